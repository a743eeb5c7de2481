/**
 * The hub's queries of transfer tasks by state (the metrics at every scrape, the orchestrator at every pass)
 * and by job walk an index, on the libsql file and (under `deno task test:pg`) on PostgreSQL: asked of each
 * database's planner, PostgreSQL's told to avoid a whole-table scan where it can (a table of a few rows
 * would otherwise always be scanned).
 */
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import { openHubDb } from "./db.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

/** The queries, as transfers/service.ts makes them (by state, counted by state, a job's tasks). */
const QUERIES: [string, string, string[]][] = [
  ["counted by state", "SELECT status, count(*) FROM transfer_tasks GROUP BY status", []],
  ["in one state", "SELECT * FROM transfer_tasks WHERE status = $1", ["canceling"]],
  ["of one job", "SELECT * FROM transfer_tasks WHERE transfer_id = $1", ["t1"]],
  [
    "of one job in some states",
    "SELECT * FROM transfer_tasks WHERE transfer_id = $1 AND status IN ('pending', 'queued')",
    ["t1"],
  ],
];

Deno.test("transfer tasks are found by state and by job through an index, on either database", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-indexes-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    for (const [what, query, params] of QUERIES) {
      let plan: string;
      if (db.pg) {
        plan = await db.pg.begin(async (tx) => {
          await tx`SET LOCAL enable_seqscan = off`;
          const rows = await tx.unsafe(`EXPLAIN ${query}`, params);
          return rows.map((r) => String(r["QUERY PLAN"])).join("\n");
        });
        assert.doesNotMatch(plan, /Seq Scan/, `${what}: ${plan}`);
      } else {
        const inline = query.replace(/\$(\d)/g, (_, n) => `'${params[Number(n) - 1]}'`);
        const rows = await db.all<{ detail: string }>(sql.raw(`EXPLAIN QUERY PLAN ${inline}`));
        plan = rows.map((r) => r.detail).join("\n");
        assert.doesNotMatch(plan, /^SCAN transfer_tasks$/m, `${what}: ${plan}`);
      }
      assert.match(plan, /transfer_tasks_(status|transfer)/, `${what}: ${plan}`);
    }
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
