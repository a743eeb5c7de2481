/**
 * Many simulated agents in one process for the scale benchmark: each opens its own WebSocket with
 * its credential, says hello, runs a real client Session, pings at the hub's heartbeat and answers
 * the hub's status requests. Connections are opened a few at a time.
 */
import { Channel, clientHandshake, openWebSocket, Request, Session } from "@conduit/shared/tunnel";

export async function simulateAgents(
  url: string,
  credentials: { site: string; credential: string }[],
  log: (m: string) => void,
) {
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
    if ((i + 20) % 200 === 0) log(`${Math.min(i + 20, credentials.length)} simulated agents connected`);
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
