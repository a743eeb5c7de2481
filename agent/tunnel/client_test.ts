import assert from "node:assert/strict";
import { Channel, MAX_PAYLOAD, Reason, Session, webSocketTransport } from "@conduit/shared/tunnel";
import { Logger } from "@conduit/shared/log";
import { eventually } from "../../tests/support/hub.ts";
import { TunnelClient } from "./client.ts";

/** The hello fields a hub from before 2026-12-04 knew: its strict schema refused any other. */
const FIRST_HELLO = ["protocol", "version", "site", "agentVersion"];

/**
 * A hub of before 2026-12-04 as the agent meets it: a hello with fields it does not know (`maxFrame`,
 * `features`) is refused as not valid; it names no `maxFrame` in its welcome and takes Data frames of 64 KiB
 * at most (one larger ends the session, Oversize). Once greeted it asks `status` and reads the bytes sent back.
 */
function hubOfBeforeMaxFrame() {
  const hellos: Record<string, unknown>[] = [];
  const received = Promise.withResolvers<number>();
  const sessions: Session[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => {
      socket.onmessage = null;
      const hello = JSON.parse(String(e.data));
      hellos.push(hello);
      if (Object.keys(hello).some((key) => !FIRST_HELLO.includes(key))) {
        const message = "the first message is not a valid hello";
        socket.send(
          JSON.stringify({ protocol: "conduit-tunnel", version: 1, accepted: false, reason: 1, message }),
        );
        return socket.close(4000 + Reason.ProtocolError, message);
      }
      socket.send(JSON.stringify({
        protocol: "conduit-tunnel",
        version: 1,
        accepted: true,
        site: hello.site,
        hubVersion: "0.0.1",
        heartbeatSeconds: 30,
      }));
      const session = new Session(webSocketTransport(socket), { side: "server", maxPayload: MAX_PAYLOAD });
      sessions.push(session);
      session.ended.then((end) => received.reject(new Error(`the session ended: ${end.message}`)));
      const channel = new Channel(session.open());
      void channel.send({ op: "status" }).then(async () => {
        let bytes = 0;
        for (let record = await channel.next(); record; record = await channel.next()) {
          if (record.kind === "bytes") bytes += record.data.byteLength;
        }
        received.resolve(bytes);
      }).catch(received.reject);
    };
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/tunnel`,
    hellos,
    received: received.promise,
    async close() {
      for (const s of sessions) s.close(Reason.Normal, "done");
      await server.shutdown();
    },
  };
}

/**
 * An agent upgraded before its hub: until 2026-12-06 an agent whose hello named `maxFrame` and `features` never
 * connected to a hub from before them (each attempt refused as not a valid hello, retried for ever).
 */
Deno.test("TunnelClient greets a hub that refuses its hello's newer fields with the first version's hello", async () => {
  const hub = hubOfBeforeMaxFrame();
  const lines: string[] = [];
  const answer = new Uint8Array(3 * MAX_PAYLOAD + 1000).fill(7);
  const client = new TunnelClient({
    url: hub.url,
    site: "north",
    credential: "cred",
    agentVersion: "test",
    log: new Logger({}, "info", { write: (line) => lines.push(line) }),
    backoffBaseMs: 10,
    async serve(_request, channel) {
      await channel.sendBytes(answer);
      await channel.end();
    },
  });
  try {
    client.start();
    await eventually("the agent online", () => client.state === "online");
    assert.deepEqual(Object.keys(hub.hellos.at(-1)!).sort(), [...FIRST_HELLO].sort());
    assert.ok(hub.hellos[0].features, "it tries its own hello first");
    // In 64 KiB frames: a larger one would have ended the session.
    assert.equal(await hub.received, answer.byteLength);
    const warned = lines.map((l) => JSON.parse(l)).find((l) => l.msg.startsWith("the hub does not read"));
    assert.match(warned?.fix ?? "", /upgrade the hub/);
    assert.equal(client.connections, 1);
  } finally {
    await client.stop(100);
    await hub.close();
  }
});
