/**
 * The agent's heartbeats over a real WebSocket on loopback: a hub that answers keeps its session even when the
 * agent's event loop was held past the timeout; a hub that never answers loses it within heartbeat + timeout.
 */
import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { Reason, Session, webSocketTransport } from "@conduit/shared/tunnel";
import { keepBeating } from "./heartbeat.ts";

/** A WebSocket pair on loopback: the hub's end (given to `hub`) and the agent's. */
async function withLink(
  hub: (socket: WebSocket) => void,
  body: (agentSocket: WebSocket) => Promise<void>,
): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => hub(socket);
    return response;
  });
  const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}`);
  try {
    await new Promise((resolve) => client.onopen = resolve);
    await body(client);
  } finally {
    client.close();
    await server.shutdown();
  }
}

const until = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

Deno.test("agent heartbeat: an agent whose event loop was held past the timeout keeps a hub that answered", async () => {
  const lines: string[] = [];
  const log = new Logger({}, "info", { write: (line) => lines.push(line) });
  let hubSession: Session | undefined;
  await withLink(
    (socket) => hubSession = new Session(webSocketTransport(socket), { side: "server" }),
    async (ws) => {
      const session = new Session(webSocketTransport(ws), { side: "client" });
      const stop = keepBeating(session, { heartbeatMs: 200, timeoutMs: 1000, log });
      try {
        // The first heartbeat answered, then one goes out and the agent's loop is held for longer than the
        // timeout (a long synchronous call); the hub answers meanwhile.
        while (session.beatAnsweredAt === undefined) await until(20);
        const answered = session.beatAnsweredAt;
        while (session.beatUnansweredMs === 0) await until(5);
        const held = performance.now() + 1600;
        while (performance.now() < held) { /* held */ }
        // Checks every 250 ms: several run after the stall, the answer is taken, the session stands.
        await until(800);
        assert.notEqual(session.beatAnsweredAt, answered, "the heartbeat's answer was taken");
        assert.equal(session.isClosed, false, `the session was closed: ${lines.join("\n")}`);
        assert.deepEqual(lines, []);
      } finally {
        stop();
        session.close(Reason.Normal, "done");
        hubSession?.close(Reason.Normal, "done");
      }
    },
  );
});

Deno.test("agent heartbeat: a hub that never answers loses its session within heartbeat + timeout", async () => {
  const lines: string[] = [];
  const log = new Logger({}, "info", { write: (line) => lines.push(line) });
  // The hub's end reads nothing and answers nothing (a half-open link as far as the agent can tell).
  await withLink(() => {}, async (ws) => {
    const session = new Session(webSocketTransport(ws), { side: "client" });
    const stop = keepBeating(session, { heartbeatMs: 200, timeoutMs: 600, log });
    try {
      const t0 = performance.now();
      const end = await session.ended;
      const ms = performance.now() - t0;
      assert.equal(end.reason, Reason.HeartbeatTimeout);
      assert.ok(ms >= 800, `closed after ${ms} ms, before a heartbeat went unanswered for the timeout`);
      assert.equal(lines.filter((l) => l.includes("the hub missed a heartbeat")).length, 1, lines.join("\n"));
    } finally {
      stop();
    }
  });
});
