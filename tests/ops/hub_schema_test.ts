/**
 * A hub refuses a database whose schema is newer than its code (an upgrade rolled back, or an older hub of
 * a cluster restarted after another one was upgraded), on its libsql file and on PostgreSQL: a message
 * saying so on stderr, exit code 1, and the database left exactly as it was; the admin CLI refuses it too.
 * Until 2026-12-05 the older hub applied what it had (nothing) and ran on the newer schema as if it were
 * its own, as the agent did before it learned to refuse (agent/index/db.ts).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import LibsqlDatabase from "libsql";
import postgres from "postgres";
import { hubAdmin, startHubProcess } from "../support/hub.ts";
import {
  ADDRESS_IN_USE,
  DENO_RUN_FLAGS,
  listensOn,
  logTail,
  onFreePorts,
  PortTakenError,
  scratchDir,
  spawnLogged,
} from "../support/processes.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
/** A migration of a later version: far past any this one has (drizzle orders them by `created_at`). */
const FUTURE = Date.UTC(2099, 0, 1);
const REFUSAL = /newer version of the hub.*schema is from 2099-01-01/s;

/**
 * Starts `hub/main.ts` with `args` and waits until it ends (its exit code and output) or itself answers
 * /healthz (then it is stopped, and the answer says it started); on another port when another process
 * took the one drawn.
 */
function startOrRefuse(args: string[]): Promise<{ started: true } | { code: number; output: string }> {
  return onFreePorts(["hub"], [undefined], async ([port]) => {
    const proc = await spawnLogged("hub-refuse", Deno.execPath(), [
      "run",
      "-A",
      ...DENO_RUN_FLAGS,
      "--frozen",
      path.join(ROOT, "hub/main.ts"),
      "--port",
      String(port),
      ...args,
    ], ROOT);
    const deadline = Date.now() + 60_000;
    while (!proc.exited() && Date.now() < deadline) {
      const ok = listensOn(proc.child.pid, port) !== false &&
        await fetch(`http://127.0.0.1:${port}/healthz`).then(async (r) => (await r.body?.cancel(), true))
          .catch(() => false);
      if (ok) {
        await proc.stop();
        return { started: true } as const;
      }
      await Promise.race([proc.status, new Promise((r) => setTimeout(r, 100))]);
    }
    await proc.stop();
    const status = await proc.status;
    const output = await logTail(proc.logFile, 10_000);
    if (ADDRESS_IN_USE.test(output)) throw new PortTakenError(output, []);
    return { code: status.code, output };
  });
}

function sha256(file: string): string {
  return createHash("sha256").update(Deno.readFileSync(file)).digest("hex");
}

Deno.test({
  name: "a hub refuses a libsql database written by a newer hub, and leaves it as it was",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dataDir = await scratchDir("hub-schema-");
    // A database of this version, then what a later version's migration would leave.
    const hub = await startHubProcess({ dataDir, db: "file:" }); // the file, also under CONDUIT_TEST_DB=postgres
    assert.equal((await hubAdmin(dataDir, ["site", "add", "north"])).code, 0);
    await hub.stop();
    const file = path.join(dataDir, "hub.db");
    const db = new LibsqlDatabase(file);
    db.exec("CREATE TABLE future_things (id integer primary key)");
    db.prepare('INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)').run(
      "future",
      FUTURE,
    );
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
    const before = sha256(file);

    const refused = await startOrRefuse(["--data", dataDir]);
    assert.ok(!("started" in refused), "the hub started on a newer schema");
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, REFUSAL);
    assert.doesNotMatch(refused.output, /at .*\.ts:\d+/, "a message, not a stack");
    const admin = await hubAdmin(dataDir, ["site", "list", "--json"]);
    assert.equal(admin.code, 1, admin.stderr);
    assert.match(admin.stderr, REFUSAL);
    assert.equal(sha256(file), before, "the database file is unchanged");
  },
});

const skipPg = postgresMissing();
if (skipPg) console.warn(`hub_schema_test: PostgreSQL: skipped: ${skipPg}`);

Deno.test({
  name: "a hub refuses a PostgreSQL database written by a newer hub, and leaves it as it was",
  ignore: Boolean(skipPg),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    try {
      const url = await pg.createDatabase("schema");
      const hub = await startHubProcess({ db: url });
      assert.equal((await hubAdmin(hub.dataDir, ["site", "add", "north"])).code, 0);
      await hub.stop();
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      /** Every table's rows, and the tables themselves: what a hub that ran would have changed. */
      const snapshot = async () => {
        const tables = (await sql`select schemaname, tablename from pg_tables
          where schemaname in ('public', 'drizzle') order by 1, 2`).map((t) =>
          `${t.schemaname}.${t.tablename}`
        );
        const rows: Record<string, unknown> = {};
        for (const t of tables) {
          rows[t] = await sql.unsafe(
            `select * from ${t.split(".").map((p) => `"${p}"`).join(".")} order by 1`,
          );
        }
        return JSON.stringify({ tables, rows });
      };
      try {
        await sql`create table future_things (id integer primary key)`;
        await sql`insert into drizzle.__drizzle_migrations (hash, created_at) values ('future', ${FUTURE})`;
        const before = await snapshot();
        assert.match(before, /"north"/);

        const refused = await startOrRefuse(["--data", await scratchDir("hub-schema-pg-"), "--db", url]);
        assert.ok(!("started" in refused), "the hub started on a newer schema");
        assert.equal(refused.code, 1, refused.output);
        assert.match(refused.output, REFUSAL);
        const admin = await hubAdmin(hub.dataDir, ["site", "list", "--json"]);
        assert.equal(admin.code, 1, admin.stderr);
        assert.match(admin.stderr, REFUSAL);
        assert.equal(await snapshot(), before, "nothing changed in the database (no hub registered either)");
      } finally {
        await sql.end();
      }
    } finally {
      await pg.stop();
    }
  },
});
