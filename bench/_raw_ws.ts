/**
 * The reference for the tunnel benchmark: plain WebSockets on loopback with no framing, windows,
 * hashing or disk. `sink PORT` acknowledges each binary message with a text "ok"; `relay PORT
 * SINK_PORT` forwards each message from a client to the sink and the acknowledgements back.
 */
const [role, portArg, sinkArg] = Deno.args;
const port = Number(portArg);

function sink() {
  Deno.serve({ hostname: "127.0.0.1", port, onListen: () => console.log("ready") }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    socket.onmessage = () => socket.send("ok");
    return response;
  });
}

function relay() {
  Deno.serve({ hostname: "127.0.0.1", port, onListen: () => console.log("ready") }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    const upstream = new WebSocket(`ws://127.0.0.1:${sinkArg}/`);
    upstream.binaryType = "arraybuffer";
    const early: ArrayBuffer[] = [];
    upstream.onopen = () => early.splice(0).forEach((m) => upstream.send(m));
    upstream.onmessage = (e) => socket.send(e.data);
    socket.onmessage = (e) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(e.data);
      else early.push(e.data);
    };
    socket.onclose = () => upstream.close();
    return response;
  });
}

if (role === "sink") sink();
else if (role === "relay") relay();
else {
  console.error("usage: _raw_ws.ts sink PORT | relay PORT SINK_PORT");
  Deno.exit(2);
}
