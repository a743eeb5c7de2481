/**
 * A site's row in the registry follows its sessions whatever order the database takes their writes in: a
 * session that ends, or is replaced, while its write is slow does not leave the site offline once its
 * replacement is connected. A real hub database (libsql, or PostgreSQL under test:pg); the sessions on
 * in-memory transports; the registry's writes held where the test says.
 */
import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import {
  memoryPair,
  type MemoryTransport,
  Reason,
  Session,
  webSocketTransport,
} from "@conduit/shared/tunnel";
import { openHubDb } from "../db/db.ts";
import { SiteRegistry } from "../sites/registry.ts";
import { Sessions, type SessionsOptions } from "./sessions.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";
import { eventually } from "../../tests/support/hub.ts";

type Which = "connected" | "disconnected";

/**
 * A registry whose next `which` write waits until `release` is called; `calls` counts writes begun,
 * `done` those ended.
 */
function holding(registry: SiteRegistry) {
  const calls = { connected: 0, disconnected: 0 };
  const done = { connected: 0, disconnected: 0 };
  let held: { which: Which; gate: PromiseWithResolvers<void> } | undefined;
  for (const which of ["connected", "disconnected"] as const) {
    const real = registry[which].bind(registry) as (...args: unknown[]) => Promise<void>;
    (registry as unknown as Record<Which, unknown>)[which] = async (...args: unknown[]) => {
      calls[which]++;
      try {
        if (held?.which === which) {
          const gate = held.gate;
          held = undefined;
          await gate.promise;
        }
        await real(...args);
      } finally {
        done[which]++;
      }
    };
  }
  return {
    calls,
    done,
    hold(which: Which) {
      held = { which, gate: Promise.withResolvers<void>() };
      return held.gate;
    },
  };
}

async function withSessions(fn: Parameters<typeof withSessionsOptions>[1]) {
  await withSessionsOptions({ syncSeconds: 3600, heartbeatSeconds: 3600 }, fn);
}

async function withSessionsOptions(
  options: SessionsOptions,
  fn: (ctx: {
    registry: SiteRegistry;
    sessions: Sessions;
    writes: ReturnType<typeof holding>;
    connect: (agentVersion: string) => MemoryTransport;
    row: () => Promise<{ state: string; agentVersion: string | null }>;
  }) => Promise<void>,
) {
  const dir = await Deno.makeTempDir({ prefix: "conduit-sessions-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  const log = new Logger({ app: "test" }, "error", { write: () => {} });
  const registry = new SiteRegistry(db);
  const { credential } = await registry.enroll((await registry.add("north")).enrollmentToken);
  assert.ok(credential);
  const writes = holding(registry);
  const sessions = new Sessions(registry, log, { syncSeconds: 3600, ...options });
  const connect = (agentVersion: string) => {
    const [hub, agent] = memoryPair();
    sessions.attach("north", hub, { agentVersion, remoteAddress: "127.0.0.1" });
    return agent;
  };
  const row = async () => {
    const r = (await registry.get("north"))!;
    return { state: r.state, agentVersion: r.agentVersion };
  };
  try {
    await fn({ registry, sessions, writes, connect, row });
  } finally {
    await sessions.stop(0);
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Releases `gate` once the replacement's start is written (the order that lost the row), or at once when
 * the replacement's write was not even begun by `attach` (it waits for the held one).
 */
async function releaseAfterReplacement(
  writes: ReturnType<typeof holding>,
  gate: PromiseWithResolvers<void>,
  startedBefore: number,
) {
  if (writes.calls.connected > startedBefore) {
    // Every write but the held one has ended.
    await eventually(
      "the replacement's start written",
      () =>
        writes.done.connected + writes.done.disconnected ===
          writes.calls.connected + writes.calls.disconnected - 1,
    );
  }
  gate.resolve();
}

const settled = (writes: ReturnType<typeof holding>) =>
  writes.calls.connected === writes.done.connected && writes.calls.disconnected === writes.done.disconnected;

Deno.test("Sessions: an ended session's offline, written after its replacement's online, does not win", async () => {
  await withSessions(async ({ sessions, writes, connect, row }) => {
    const first = connect("1.0.0");
    await eventually("north online", async () => (await row()).state === "online" && settled(writes));
    // The agent's socket dies; the end's write is slow (the database busy a moment), and meanwhile the
    // agent connects again.
    const gate = writes.hold("disconnected");
    first.cut();
    await eventually("the end's write begun", () => writes.calls.disconnected === 1);
    const before = writes.calls.connected;
    connect("1.0.1");
    await releaseAfterReplacement(writes, gate, before);
    await eventually("every write done", () => settled(writes) && writes.done.connected === 2);
    assert.ok(sessions.get("north"), "the replacement is live");
    assert.deepEqual(await row(), { state: "online", agentVersion: "1.0.1" });
  });
});

Deno.test("Sessions: a replaced session's slow online does not end in offline under its replacement", async () => {
  await withSessions(async ({ sessions, writes, connect, row }) => {
    // The first session's start is slow; a second session replaces it before it is written.
    const gate = writes.hold("connected");
    connect("1.0.0");
    await eventually("the first start's write begun", () => writes.calls.connected === 1);
    connect("1.0.1");
    await releaseAfterReplacement(writes, gate, 1);
    await eventually("every write done", () => settled(writes) && writes.done.connected >= 1);
    assert.ok(sessions.get("north"), "the replacement is live");
    assert.deepEqual(await row(), { state: "online", agentVersion: "1.0.1" });
    // Its end is still written.
    sessions.drop("north", Reason.Normal, "test");
    await eventually("north offline", async () => settled(writes) && (await row()).state === "offline");
  });
});

Deno.test("Sessions: a hub whose event loop was held past the heartbeat timeout keeps a site that answered", async () => {
  await withSessionsOptions({ heartbeatSeconds: 3600, heartbeatTimeoutSeconds: 1 }, async ({ sessions }) => {
    // A real WebSocket on loopback, the agent's side a Session answering pings (as agents do).
    const upgraded = Promise.withResolvers<WebSocket>();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      socket.onopen = () => upgraded.resolve(socket);
      return response;
    });
    const client = new WebSocket(`ws://127.0.0.1:${server.addr.port}`);
    try {
      await new Promise((resolve) => client.onopen = resolve);
      const agent = new Session(webSocketTransport(client), { side: "client" });
      const session = sessions.attach("north", webSocketTransport(await upgraded.promise), {
        agentVersion: "1.0.0",
        remoteAddress: "127.0.0.1",
      });
      await eventually("the first heartbeat answered", () => session.beatAnsweredAt !== undefined);
      // A heartbeat goes out, then the hub's event loop is held for longer than the timeout (a synchronous
      // call, a machine out of CPU); the agent answers meanwhile.
      const answered = session.beatAnsweredAt;
      session.beat();
      const until = performance.now() + 1600;
      while (performance.now() < until) { /* held */ }
      await eventually("the heartbeat's answer taken", () => session.beatAnsweredAt !== answered);
      // Two more checks after it (every 250 ms): the session stands.
      const checks = performance.now() + 600;
      await eventually("two checks done", () => performance.now() > checks);
      assert.equal(sessions.get("north")?.session, session, "the session was not closed");
      agent.close();
    } finally {
      client.close();
      await server.shutdown();
    }
  });
});

/**
 * A revoke that lands between the check of an agent's credential and the session's start being written: until
 * 2026-12-06 that write set the row `online` again over `revoked`, so the sync never saw the site revoked, its
 * session went on, and once it ended the site read `offline` (enrolled) with no credential.
 */
Deno.test("Sessions: a site revoked while its session starts stays revoked and its session is closed", async () => {
  await withSessionsOptions({ syncSeconds: 0.05 }, async ({ registry, connect, row, sessions }) => {
    // The credential was checked (the tunnel's upgrade) before this revoke; the session attaches after it.
    await registry.revoke("north");
    connect("1.0.0");
    const session = sessions.get("north")!.session;
    const end = await session.ended;
    assert.equal(end.reason, Reason.Revoked);
    assert.equal((await row()).state, "revoked");
  });
});
