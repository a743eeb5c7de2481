/**
 * One worker's share of the simulated agents (bench/_simulated_agents.ts): each opens its own WebSocket
 * with its credential, says hello, runs a real client Session, pings at the hub's heartbeat and answers
 * the hub's status requests. Connections are opened a few at a time. Messages: in, `{ url, credentials }`
 * then `"close"`; out, `{ connected }` every 200, `{ ready }`, `{ pings, statuses }` each second, `"closed"`.
 */
import { Channel, clientHandshake, openWebSocket, Request, Session } from "@conduit/shared/tunnel";

async function simulateAgents(url: string, credentials: { site: string; credential: string }[]) {
  const sessions: Session[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  let pings = 0, statuses = 0;
  const connect = async (c: { site: string; credential: string }) => {
    const ws = await openWebSocket(url, {
      headers: { authorization: `Bearer ${c.credential}` },
      timeoutMs: 60_000,
    });
    const { welcome, transport } = await clientHandshake(
      ws,
      { site: c.site, agentVersion: "simulated" },
      60_000,
    );
    const session = new Session(transport, {
      side: "client",
      onStream: (stream) => {
        const channel = new Channel(stream);
        channel.expect(Request).then(async (r) => {
          if (r.op === "status") {
            statuses++;
            await channel.send({ type: "status", queueDepth: 0, agentVersion: "simulated" });
          }
          await channel.end();
        }).catch(() => {});
      },
    });
    sessions.push(session);
    timers.push(
      setInterval(
        () => session.ping(10_000).then(() => pings++).catch(() => {}),
        welcome.heartbeatSeconds * 1000,
      ),
    );
  };
  for (let i = 0; i < credentials.length; i += 20) {
    await Promise.all(credentials.slice(i, i + 20).map(connect));
    if ((i + 20) % 200 === 0) self.postMessage({ connected: Math.min(i + 20, credentials.length) });
  }
  return {
    pings: () => pings,
    statuses: () => statuses,
    async close() {
      for (const t of timers) clearInterval(t);
      for (const s of sessions) s.close();
      await new Promise((r) => setTimeout(r, 200));
    },
  };
}

self.onmessage = async (e: MessageEvent) => {
  const agents = await simulateAgents(e.data.url, e.data.credentials);
  self.postMessage({ ready: true });
  const counts = setInterval(
    () => self.postMessage({ pings: agents.pings(), statuses: agents.statuses() }),
    1000,
  );
  self.onmessage = async () => {
    clearInterval(counts);
    self.postMessage({ pings: agents.pings(), statuses: agents.statuses() });
    await agents.close();
    self.postMessage("closed");
  };
};
