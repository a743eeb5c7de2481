import assert from "node:assert/strict";
import { eventually } from "../../tests/support/hub.ts";
import { sendQueue } from "./tcp_queue.ts";

// An IPv4 client of a server on "::" is seen in /proc/net/tcp6 as ::ffff:127.0.0.1.
for (const [listen, host] of [["127.0.0.1", "127.0.0.1"], ["::1", "::1"], ["::", "127.0.0.1"]]) {
  Deno.test({
    name:
      `sendQueue() reads the bytes a connection to a peer holds unacknowledged, and their fall (${host} to ${listen})`,
    ignore: Deno.build.os !== "linux",
    async fn() {
      const listener = Deno.listen({ hostname: listen, port: 0 });
      const client = await Deno.connect({ hostname: host, port: (listener.addr as Deno.NetAddr).port });
      const server = await listener.accept();
      const peer = client.localAddr as Deno.NetAddr;
      try {
        assert.equal(sendQueue(peer), 0, "nothing written yet");
        // The client reads nothing: what the server writes beyond its buffers waits in its send queue.
        const writing = (async () => {
          const bytes = new Uint8Array(8 * 1024 * 1024);
          for (let at = 0; at < bytes.length;) at += await server.write(bytes.subarray(at));
        })();
        const full = await eventually(
          "a send queue",
          () => (sendQueue(peer) ?? 0) > 0 ? sendQueue(peer) : undefined,
        );
        let read = 0;
        const buf = new Uint8Array(1024 * 1024);
        while (read < 8 * 1024 * 1024) read += (await client.read(buf)) ?? Infinity;
        await writing;
        await eventually("an empty send queue", () => sendQueue(peer) === 0);
        assert.ok(full! > 0);
        assert.equal(
          sendQueue({ transport: "tcp", hostname: "127.0.0.1", port: 1 }),
          undefined,
          "no such peer",
        );
      } finally {
        client.close();
        server.close();
        listener.close();
      }
    },
  });
}
