/**
 * A hub on PostgreSQL through what a DBA does to the database: a stop (a failover's minute, shortened to
 * 7 s, longer than a cluster lease), a `pg_ctl restart -m fast` and `pg_terminate_backend` of the hub's
 * connections. The hub process stays up; while the database is away DICOMweb, tRPC and the console's
 * session check answer 503 / SERVICE_UNAVAILABLE saying the hub cannot reach its database, each within
 * 3 s, never with the query (drizzle's message names the tables and the parameters); the agent's tunnel
 * stays up; once the database is back everything answers again without a restart of the hub, and an audit
 * entry written before is still there. Until 2026-12-05 every request meanwhile was a 500, tRPC's carried
 * the failed SELECT of `api_tokens` with the token's id, and requests waited up to 20 s on the driver's
 * reconnect backoff. A hub on its libsql file made unwritable (chattr +i) likewise answers a write 503
 * saying it cannot write its database, and serves reads. A PostgreSQL that stops answering without
 * refusing (a partition: a proxy that stops moving bytes) gets the same 503 within 7 s (hub/db/guard.ts),
 * where requests waited until TCP gave up. Real hub and agent processes, a real
 * PostgreSQL. The mapping alone:
 * hub/db/errors_test.ts and hub/api/errors_test.ts.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, type HubProcess, startHubProcess } from "../support/hub.ts";
import { postgresMissing, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { scratchDir } from "../support/processes.ts";
import { canFreeze, chattr } from "../support/immutable.ts";
import { startProxy } from "../support/tcp_proxy.ts";

/** The longest a request may take while the database is away (the driver's reconnect waits at most 1 s). */
const BOUND_MS = 3000;

interface Answer {
  status: number;
  text: string;
  ms: number;
}

/**
 * What the hub answers to a DICOMweb query, a tRPC query and a console session, each timed; `together`: the
 * three asked at once (where each waits for the hub's guard), else one after the other.
 */
async function ask(hub: HubProcess, token: string, together = false): Promise<Record<string, Answer>> {
  const base = `http://127.0.0.1:${hub.port}`;
  const auth = { authorization: `Bearer ${token}` };
  const one = async (url: string, init?: RequestInit): Promise<Answer> => {
    const t0 = Date.now();
    const r = await fetch(`${base}${url}`, { ...init, signal: AbortSignal.timeout(15_000) });
    return { status: r.status, text: await r.text(), ms: Date.now() - t0 };
  };
  const asks = {
    qido: () => one("/dicomweb/sites/north/studies", { headers: auth }),
    trpc: () => one("/trpc/transfers.list", { headers: auth }),
    // A session cookie is looked up in the database (a login would be throttled after a few failures).
    session: () => one("/auth/me", { headers: { cookie: "conduit_session=no-such-session" } }),
  };
  if (together) {
    const [qido, trpc, session] = await Promise.all([asks.qido(), asks.trpc(), asks.session()]);
    return { qido, trpc, session };
  }
  return { qido: await asks.qido(), trpc: await asks.trpc(), session: await asks.session() };
}

function assertAway(answers: Record<string, Answer>, when: string): void {
  for (const [what, a] of Object.entries(answers)) {
    assert.equal(a.status, 503, `${what} ${when}: ${a.status} ${a.text}`);
    assert.match(a.text, /the hub cannot reach its database/, `${what} ${when}`);
    assert.doesNotMatch(a.text, /select|api_tokens|params/i, `${what} ${when}: no query in the answer`);
    assert.ok(a.ms < BOUND_MS, `${what} ${when} answered in ${a.ms} ms`);
  }
  assert.match(answers.trpc.text, /"code":"SERVICE_UNAVAILABLE"/);
}

/** Waits until every request is answered as with the database there (north's QIDO 200, the unknown session 401). */
function untilBack(hub: HubProcess, token: string, seen: number[], what: string) {
  return eventually(`everything answers again after ${what}`, async () => {
    const a = await ask(hub, token);
    seen.push(...Object.values(a).map((x) => x.status));
    const health = await fetch(`http://127.0.0.1:${hub.port}/healthz`);
    await health.body?.cancel();
    return a.qido.status === 200 && a.trpc.status === 200 && a.session.status === 401 &&
      health.status === 200;
  }, 15_000);
}

const skip = postgresMissing();
if (skip) console.warn(`hub_db_restart_test: skipped: ${skip}`);

/**
 * One PostgreSQL server for the file's two tests on it, each on a database of its own: started by the file's
 * first test (on libsql, which does not wait for it) or the first that needs it, stopped by the file's last
 * test (or at exit, when a test runs alone).
 */
let server: Promise<TestPostgres> | undefined;
const sharedPostgres = () => (server ??= startPostgres());

Deno.test({
  name: "a hub on its libsql file answers writes 503 while the file cannot be written, and reads all along",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The file's PostgreSQL (for the tests after this one) starts while this test runs.
    if (!skip) sharedPostgres().catch(() => {});
    const dir = await scratchDir("hub-db-frozen-");
    if (!(await canFreeze(dir))) {
      console.warn(
        "hub_db_restart_test: the libsql case needs root and chattr on an ext4-like file system; skipped",
      );
      return;
    }
    const hub = await startHubProcess({ dataDir: path.join(dir, "hub"), db: "file:" });
    const files = ["hub.db", "hub.db-wal"].map((f) => path.join(hub.dataDir, f));
    try {
      const token = String(
        (await hubAdmin(hub.dataDir, ["token", "create", "ops", "--role", "admin", "--json"])).json!.token,
      );
      const base = `http://127.0.0.1:${hub.port}`;
      const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
      const write = () =>
        fetch(`${base}/trpc/tokens.create`, {
          method: "POST",
          headers,
          body: JSON.stringify({ name: "viewer", role: "viewer" }),
        });
      const login = () =>
        fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user: "nobody", password: "not-a-password" }),
        });
      await chattr("+i", files);
      const w = await write();
      const body = await w.text();
      assert.equal(w.status, 503, body);
      assert.match(body, /"code":"SERVICE_UNAVAILABLE"/);
      assert.match(body, /the hub cannot write its database now/);
      const l = await login(); // writes its audit entry (login.failed)
      assert.equal(l.status, 503);
      assert.match(await l.text(), /the hub cannot write its database now/);
      const read = await fetch(`${base}/trpc/transfers.list`, { headers });
      assert.equal(read.status, 200, await read.text());
      await chattr("-i", files);
      const again = await write();
      assert.equal(again.status, 200, await again.text());
    } finally {
      await chattr("-i", files).catch(() => {});
      await hub.stop();
    }
  },
});

Deno.test({
  name: "a hub on PostgreSQL answers 503 while its database restarts or stops, and everything after",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await sharedPostgres();
    let hub: HubProcess | undefined;
    let agent;
    let paused = false;
    try {
      const db = await pg.createDatabase("restart");
      hub = await startHubProcess({ db });
      const admin = async (args: string[]) => {
        const out = await hubAdmin(hub!.dataDir, [...args, "--json"]);
        assert.equal(out.code, 0, out.stderr);
        return out.json!;
      };
      const [created, north] = await Promise.all([
        admin(["token", "create", "ops", "--role", "admin"]),
        admin(["site", "add", "north"]),
      ]);
      const token = String(created.token);
      agent = await startAgentProcess({
        aet: "NORTH",
        config: { hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 } },
        args: [
          "--site",
          "north",
          "--hub",
          hub.tunnelUrl,
          "--enroll",
          String(north.enrollmentToken),
        ],
      });
      const seen: number[] = [];
      await untilBack(hub, token, seen, "the start");
      const connects = async () => (await Deno.readTextFile(hub!.logFile)).split("site connected").length - 1;
      const connectedBefore = await connects();

      // A stop longer than a cluster lease (6 s): requests are refused at once, the hub stays up.
      await pg.pause();
      paused = true;
      const stoppedAt = Date.now();
      assertAway(await ask(hub, token), "with the database stopped");
      await eventually(
        "/healthz 503",
        async () => (await fetch(`http://127.0.0.1:${hub!.port}/healthz`)).status === 503,
      );
      // 7 s after the stop (no answer of the hub tells when its lease ran out while its database is away).
      await new Promise((r) => setTimeout(r, stoppedAt + 7000 - Date.now()));
      assertAway(await ask(hub, token), "7 s later");
      await pg.resume();
      paused = false;
      await untilBack(hub, token, seen, "the stop");

      // A restart, then every connection of the hub terminated.
      await pg.restart();
      await untilBack(hub, token, seen, "pg_ctl restart");
      assert.ok(await pg.terminate("restart") > 0, "the hub had connections to terminate");
      await untilBack(hub, token, seen, "pg_terminate_backend");

      assert.deepEqual(seen.filter((s) => s >= 500 && s !== 503), [], "no 500 at any time");
      // The hub ran throughout; the agent's tunnel stayed up (no second connection) and north is served.
      assert.equal(
        await Promise.race([hub.status.then(() => "ended"), Promise.resolve("running")]),
        "running",
      );
      assert.equal(await connects(), connectedBefore, "north did not have to connect again");
      // What was written before is there after.
      const r = await fetch(
        `http://127.0.0.1:${hub.port}/trpc/audit.list?input=${
          encodeURIComponent(JSON.stringify({ action: "site.add" }))
        }`,
        { headers: { authorization: `Bearer ${token}` } },
      );
      assert.equal(r.status, 200);
      assert.match(await r.text(), /"target":"north"/);
      const log = await Deno.readTextFile(hub.logFile);
      assert.match(log, /request refused: the database is away/);
      assert.doesNotMatch(log, /"level":"error","msg":"(request|DICOMweb request|procedure) failed"/);
      // What failed meanwhile (the transfer loop, the registry's sync, rotations) is logged with the driver's
      // reason, never a query's values (drizzle's "params: ...": UIDs, names, ids).
      assert.match(log, /"transfer pass failed"/);
      assert.match(log, /"site registry sync failed"/);
      assert.doesNotMatch(log, /params:/);
    } finally {
      await agent?.stop();
      await hub?.stop();
      if (paused) await pg.resume(); // for the file's other test on it
    }
  },
});

Deno.test({
  name: "a hub whose PostgreSQL stops answering (a partition) answers 503 within 7 s, and everything after",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await sharedPostgres();
    const proxy = startProxy(pg.port);
    let hub: HubProcess | undefined;
    try {
      const db = (await pg.createDatabase("partition")).replace(`:${pg.port}/`, `:${proxy.port}/`);
      hub = await startHubProcess({ db });
      const [created] = await Promise.all([
        hubAdmin(hub.dataDir, ["token", "create", "ops", "--role", "admin", "--json"]),
        hubAdmin(hub.dataDir, ["site", "add", "north"]),
      ]);
      const token = String(created.json!.token);
      proxy.freezeAll(true);
      // Asked at once: each request waits for the guard (3 s, then the probe's 2 s), each answers on its own.
      const answers = await ask(hub, token, true);
      for (const [what, a] of Object.entries(answers)) {
        assert.equal(a.status, 503, `${what}: ${a.status} ${a.text}`);
        assert.match(a.text, /the hub cannot reach its database/, what);
        assert.ok(a.ms < 7000, `${what} answered in ${a.ms} ms`);
      }
      assert.match(await Deno.readTextFile(hub.logFile), /request refused: the database does not answer/);
      proxy.thaw();
      const seen: number[] = [];
      await eventually("everything answers again", async () => {
        const a = await ask(hub!, token);
        seen.push(...Object.values(a).map((x) => x.status));
        // North is enrolled, never connected: its QIDO is 503 "not connected yet", from the database.
        return /not connected yet/.test(a.qido.text) && a.trpc.status === 200 && a.session.status === 401;
      }, 30_000);
      assert.deepEqual(seen.filter((s) => s >= 500 && s !== 503), []);
    } finally {
      await hub?.stop();
      proxy.close();
      server = undefined; // the file's last test
      await pg.stop();
    }
  },
});
