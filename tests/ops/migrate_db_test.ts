/**
 * `deno task hub admin migrate-db`: a real hub on its libsql file with a real agent enrolled, an API token, a
 * console user, a finished transfer and audit rows is stopped, its file copied into an empty PostgreSQL
 * started by the test, and a hub started on that PostgreSQL on the same port: the agent reconnects with its
 * credential unchanged (no enrollment), the token and the user's password still work, the transfer and the
 * audit log are there. A second copy into the same PostgreSQL is refused and changes nothing; nothing the
 * command prints is a secret.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import postgres from "postgres";
import { createClient } from "@libsql/client";
import { eventually, hubAdmin, startHubProcess } from "../support/hub.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { freePort, scratchDir } from "../support/processes.ts";
import { startAgentProcess } from "../support/agent.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const QUEUE = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 2 };
const HUB = { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 };

Deno.test({
  name: "a hub's libsql file moved to PostgreSQL: agents, tokens, users, transfers and audit carry over",
  ignore: Boolean(postgresMissing()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    const stops: (() => Promise<void>)[] = [];
    try {
      const port = freePort();
      const dataDir = await scratchDir("conduit-hub-migrate-");
      const file = path.join(dataDir, "hub.db");
      const base = `http://127.0.0.1:${port}`;
      const onFile = await startHubProcess({ port, dataDir, db: `file:${file}` });
      let hubStop = onFile.stop;
      stops.push(() => hubStop());
      const admin = async (args: string[]) => {
        const out = await hubAdmin(dataDir, [...args, "--json"]);
        assert.equal(out.code, 0, out.stderr);
        return out.json!;
      };
      const enrollment = String((await admin(["site", "add", "north"])).enrollmentToken);
      const agent = await startAgentProcess({
        aet: "NORTH",
        config: {
          queue: QUEUE,
          hub: HUB,
          nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: freePort() } },
        },
        args: ["--site", "north", "--hub", onFile.tunnelUrl, "--enroll", enrollment],
      });
      stops.push(() => agent.stop());
      const token = String((await admin(["token", "create", "ops", "--role", "admin"])).token);
      const ann = (await admin(["user", "add", "ann", "--role", "viewer"])) as { password: string };
      const client = createConduitClient({ url: base, token });
      const online = async () =>
        (await client.sites.list.query()).find((s) => s.site === "north")?.state === "online";
      await eventually("north online on the hub on its file", online);
      // A transfer of a study north does not have, to a node that is not there: it ends at once.
      const { id } = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "north", node: "pacs" },
        studies: ["1.2.826.0.1.3680043.8.498.1"],
      });
      const terminal = ["success", "warning", "failure", "canceled"];
      const before = await eventually("the transfer finished", async () => {
        const t = await client.transfers.get.query({ id });
        return terminal.includes(t.status) ? t : undefined;
      }, 60_000);
      const agentLogBefore = (await Deno.readTextFile(agent.logFile)).length;
      const loginAnn = async () => {
        const r = await fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user: "ann", password: ann.password }),
        });
        await r.body?.cancel();
        return r;
      };
      const cookie = (await loginAnn()).headers.get("set-cookie")!.split(";")[0];
      const me = () =>
        fetch(`${base}/auth/me`, { headers: { cookie } }).then((r) => (r.body?.cancel(), r.status));
      assert.equal(await me(), 200);

      const auditBefore = await client.audit.list.query({ limit: 1000 });
      assert.ok(auditBefore.length >= 3, JSON.stringify(auditBefore));
      // While the hub runs on the file: refused, naming the process (until 2026-12-07 copied, and what the
      // hub wrote after the copy was lost on the move).
      const running = await hubAdmin(dataDir, ["migrate-db", "--to", "postgres://conduit@127.0.0.1:1/none"]);
      assert.equal(running.code, 1, running.stderr);
      assert.match(
        running.stderr,
        /a hub is running on .* \(process \d+\): stop it before moving its database .*nothing was copied/,
      );
      await onFile.stop();
      // A longer audit log than one chunk of the copy (rows written straight into the stopped hub's file).
      const file_ = createClient({ url: `file:${file}` });
      const extra = 1234;
      await file_.batch(
        Array.from({ length: extra }, (_, i) => ({
          sql: "INSERT INTO audit (at, actor, action, target) VALUES (?, 'cli', 'test.row', ?)",
          args: [Date.now(), `row-${i}`],
        })),
        "write",
      );
      file_.close();
      const db = await pg.createDatabase("migrated");
      // What it is given wrong: exit code 2 and why, before anything is opened.
      for (
        const [args, why] of [
          [["migrate-db"], /give the PostgreSQL to copy to with --to/],
          [["migrate-db", "--to", "file:/tmp/x.db"], /--to: use postgres:\/\//],
          [["migrate-db", "--to", db, "--from", path.join(dataDir, "nope.db")], /--from: use file:PATH/],
          [
            ["migrate-db", "--to", db, "--from", `file:${path.join(dataDir, "nope.db")}`],
            /no hub database at/,
          ],
        ] as const
      ) {
        const r = await hubAdmin(dataDir, [...args]);
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.match(r.stderr, why);
      }
      const migrate = (args: string[] = []) => hubAdmin(dataDir, ["migrate-db", "--to", db, ...args]);
      const copied = await migrate(["--json"]);
      assert.equal(copied.code, 0, copied.stderr);
      const summary = copied.json as { tables: Record<string, number>; rows: number; to: string };
      assert.equal(summary.tables.sites, 1);
      assert.equal(summary.tables.api_tokens, 1);
      assert.equal(summary.tables.users, 1);
      assert.equal(summary.tables.transfers, 1);
      assert.equal(summary.tables.audit, auditBefore.length + extra);
      assert.ok(!("hubs" in summary.tables) && !("site_leases" in summary.tables));
      // Nothing secret on the way: not the token, the password, the enrollment token, nor a hash.
      const printed = copied.stdout + copied.stderr;
      for (const secret of [token, ann.password, enrollment]) assert.ok(!printed.includes(secret));
      assert.doesNotMatch(printed, /\$argon|scrypt|[0-9a-f]{64}/i);

      // A second copy into a PostgreSQL that holds a hub's rows is refused, and leaves it as it was.
      const again = await migrate();
      assert.equal(again.code, 1, again.stderr);
      assert.match(again.stderr, /already holds a hub's rows: sites \(1\)/);
      const sql = postgres(db, { max: 1, onnotice: () => {} });
      stops.push(() => sql.end());
      assert.equal((await sql`select count(*)::int as n from sites`)[0].n, 1);
      assert.equal((await sql`select count(*)::int as n from audit`)[0].n, auditBefore.length + extra);
      // The tasks by state (the metrics) are PostgreSQL's own count of the tasks copied, not copied too (twice).
      assert.ok(!("transfer_task_counts" in summary.tables));
      const plain = (rows: readonly Record<string, unknown>[]) => rows.map((r) => ({ ...r }));
      assert.deepEqual(
        plain(
          await sql`select status, count::int as n from transfer_task_counts where count <> 0 order by status`,
        ),
        plain(
          await sql`select status, count(*)::int as n from transfer_tasks group by status order by status`,
        ),
      );
      assert.equal((await sql`select sum(count)::int as n from transfer_task_counts`)[0].n, 1);

      // The hub on PostgreSQL, same port: the agent comes back with the credential it has.
      const onPg = await startHubProcess({ port, dataDir, db });
      hubStop = onPg.stop;
      await eventually("north online on the hub on PostgreSQL", online, 30_000);
      const agentLog = (await Deno.readTextFile(agent.logFile)).slice(agentLogBefore);
      assert.doesNotMatch(agentLog, /enroll/i, "no enrollment again");
      const after = await client.transfers.get.query({ id });
      assert.equal(after.status, before.status);
      assert.deepEqual(after.totals, before.totals);
      assert.ok((await client.transfers.list.query()).some((t) => t.id === id));
      const auditAfter = await client.audit.list.query({ limit: 1000, offset: extra });
      assert.deepEqual(auditAfter, auditBefore);
      const newestCopied = await client.audit.list.query({ limit: 1 });
      assert.equal(newestCopied[0].target, `row-${extra - 1}`);
      assert.equal(await me(), 200, "the console session goes on");
      assert.equal((await loginAnn()).status, 200, "the user's password still works");
      // The audit log goes on after the rows copied (its key's sequence was moved on).
      await admin(["token", "create", "later", "--role", "viewer"]);
      const newest = await client.audit.list.query({ limit: 5 });
      assert.match(newest[0].action, /^token/, JSON.stringify(newest));
      assert.ok(newest.some((a) => a.target === `row-${extra - 1}`), JSON.stringify(newest));
    } finally {
      for (const stop of stops.reverse()) await stop().catch(() => {});
      await pg.stop();
    }
  },
});
