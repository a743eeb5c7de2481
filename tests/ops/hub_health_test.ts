/**
 * The hub's /healthz probes its database (one small write, reused for a second, bounded to 2 s) and is
 * 503 `"status": "no database"` with the problem while the database cannot be read and written: its libsql
 * file made unwritable (chattr +i) or removed, its PostgreSQL frozen (a proxy that stops moving bytes) or
 * stopped; 200 again once it answers. Until 2026-12-05 a hub on its libsql file said "ok" whatever state
 * the file was in, and a hub on PostgreSQL said so only after its cluster heartbeat had failed for 6 s.
 * Real hub processes; the probe's caching and time limit: hub/db/health_test.ts.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { eventually, startHubProcess } from "../support/hub.ts";
import { scratchDir } from "../support/processes.ts";
import { canFreeze, chattr } from "../support/immutable.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { startProxy } from "../support/tcp_proxy.ts";

interface Health {
  code: number;
  body: { status: string; database?: string; problem?: string; version: string; sites: number };
}

async function health(port: number): Promise<Health> {
  const r = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { code: r.status, body: await r.json() };
}

function until503(port: number, problem: RegExp): Promise<Health> {
  return eventually(`/healthz 503 (${problem.source})`, async () => {
    const h = await health(port);
    return h.code === 503 && problem.test(h.body.problem ?? "") ? h : undefined;
  });
}

function until200(port: number): Promise<Health> {
  return eventually("/healthz 200", async () => {
    const h = await health(port);
    return h.code === 200 ? h : undefined;
  });
}

function assertHealthy(h: Health): void {
  assert.equal(h.code, 200);
  assert.equal(h.body.status, "ok");
  assert.equal(h.body.database, "ok");
  assert.equal(h.body.problem, undefined);
}

function assertNoDatabase(h: Health): void {
  assert.equal(h.body.status, "no database");
  assert.equal(h.body.database, "error");
  assert.equal(typeof h.body.version, "string");
  assert.equal(h.body.sites, 0);
}

Deno.test({
  name: "hub /healthz is 503 while its libsql file cannot be written, 200 again once it can",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("hub-health-");
    if (!(await canFreeze(dir))) {
      console.warn("hub_health_test: needs root and chattr on an ext4-like file system; skipped");
      return;
    }
    const hub = await startHubProcess({ dataDir: path.join(dir, "hub"), db: "file:" });
    const files = ["hub.db", "hub.db-wal"].map((f) => path.join(hub.dataDir, f));
    try {
      assertHealthy(await health(hub.port));
      await chattr("+i", files);
      const bad = await until503(hub.port, /cannot be written/);
      assertNoDatabase(bad);
      assert.match(await Deno.readTextFile(hub.logFile), /the database failed its health probe/);
      await chattr("-i", files);
      assertHealthy(await until200(hub.port));
      assert.match(await Deno.readTextFile(hub.logFile), /the database answers again/);
    } finally {
      await chattr("-i", files).catch(() => {});
      await hub.stop();
    }
  },
});

Deno.test({
  name: "hub /healthz is 503 once its libsql file is removed from under it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startHubProcess({ db: "file:" });
    try {
      assertHealthy(await health(hub.port));
      // The hub's connection still writes to the removed file: nothing of it would outlive a restart.
      for (const f of ["hub.db", "hub.db-wal", "hub.db-shm"]) {
        await Deno.remove(path.join(hub.dataDir, f)).catch(() => {});
      }
      assertNoDatabase(await until503(hub.port, /the database file is gone/));
    } finally {
      await hub.stop();
    }
  },
});

const skipPg = postgresMissing();
if (skipPg) console.warn(`hub_health_test: PostgreSQL: skipped: ${skipPg}`);

Deno.test({
  name: "hub /healthz on PostgreSQL: 503 while the database does not answer or is stopped",
  ignore: Boolean(skipPg),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    const proxy = startProxy(pg.port);
    let hub;
    try {
      const url = (await pg.createDatabase("health")).replace(`:${pg.port}/`, `:${proxy.port}/`);
      hub = await startHubProcess({ db: url });
      const port = hub.port;
      assertHealthy(await health(port));
      // The database stops answering (its connections stay open, new ones are taken and nothing comes back):
      // reported within the probe's 2 s, not waited for.
      proxy.freezeAll(true);
      const t0 = Date.now();
      const frozen = await until503(port, /did not answer within 2 s/);
      assertNoDatabase(frozen);
      // Each request is answered at once meanwhile (from the probe still pending, not a new one per request).
      const start = Date.now();
      for (let i = 0; i < 5; i++) assert.equal((await health(port)).code, 503);
      assert.ok(Date.now() - start < 2000, "five requests took less than one probe's time limit");
      console.log(`frozen database reported after ${Date.now() - t0} ms`);
      // It answers again: what waited goes through.
      proxy.thaw();
      assertHealthy(await until200(port));
      await pg.stop();
      assertNoDatabase(await until503(port, /cannot be reached|did not answer/));
    } finally {
      await hub?.stop();
      proxy.close();
      await pg.stop();
    }
  },
});
