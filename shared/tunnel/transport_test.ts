import assert from "node:assert/strict";
import { webSocketTransport } from "./transport.ts";

/**
 * The session encodes every frame into one buffer when the transport says it copies each message
 * before send() returns. That holds for Deno's own WebSocket (both ends); this test fails if a Deno
 * release stops copying, before frames could be corrupted.
 */
Deno.test("Deno's WebSocket copies a binary message inside send(), both ways", async () => {
  const COUNT = 200;
  const SIZE = 64 * 1024 + 12;
  const serverSocket = Promise.withResolvers<WebSocket>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => serverSocket.resolve(socket);
    return response;
  });
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}/`);
  await new Promise((r) => (client.onopen = r));
  const ends = [webSocketTransport(client), webSocketTransport(await serverSocket.promise)];
  const got: Uint8Array[][] = [[], []];
  const done = ends.map((end, i) => {
    const all = Promise.withResolvers<void>();
    end.start({
      message: (data) => {
        got[i].push(data as Uint8Array);
        if (got[i].length === COUNT) all.resolve();
      },
      close: () => all.reject(new Error("closed early")),
    });
    return all.promise;
  });
  try {
    for (const end of ends) assert.equal(end.copiesOnSend, true);
    // One buffer for every message, overwritten right after each send().
    const buffer = new Uint8Array(SIZE);
    for (let i = 0; i < COUNT; i++) {
      buffer.fill(i & 0xff);
      for (const end of ends) end.send(buffer);
      buffer.fill(0xee);
    }
    await Promise.all(done);
    for (const [side, messages] of got.entries()) {
      for (const [i, message] of messages.entries()) {
        assert.equal(message.length, SIZE);
        const want = i & 0xff;
        assert.ok(
          message[0] === want && message[SIZE >> 1] === want && message[SIZE - 1] === want,
          `message ${i} to the ${side ? "client" : "server"} was changed after send()`,
        );
      }
    }
  } finally {
    for (const end of ends) end.close();
    await server.shutdown();
  }
});

Deno.test("webSocketTransport does not assume a copy from another WebSocket implementation", () => {
  const lookalike = { binaryType: "blob", readyState: 1, send() {}, close() {}, bufferedAmount: 0 };
  assert.equal(webSocketTransport(lookalike as unknown as WebSocket).copiesOnSend, false);
});
