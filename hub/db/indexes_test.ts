/**
 * The hub's queries of transfer tasks by state (the orchestrator at every pass) and by job (a pass, the
 * totals of a page of jobs), of jobs and batches by state and newest first, walk an index, on the libsql
 * file and (under `deno task test:pg`) on PostgreSQL: asked of each database's planner, PostgreSQL's told
 * to avoid a whole-table scan where it can (a table of a few rows would otherwise always be scanned). The
 * metrics' count of every task by state is not here: they read `transfer_task_counts`, a few rows.
 */
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import { type HubDb, openHubDb } from "./db.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

/** The queries, as transfers/service.ts and transfers/reads.ts make them (by state, a job's tasks, the totals of a page of jobs). */
const TASK_QUERIES: [string, string, string[]][] = [
  ["in one state", "SELECT * FROM transfer_tasks WHERE status = $1", ["canceling"]],
  ["of one job", "SELECT * FROM transfer_tasks WHERE transfer_id = $1", ["t1"]],
  [
    "of one job in some states",
    "SELECT * FROM transfer_tasks WHERE transfer_id = $1 AND status IN ('pending', 'queued')",
    ["t1"],
  ],
  [
    "the totals of a page of jobs",
    "SELECT transfer_id, count(*), sum(objects), sum(done), sum(failed), sum(missing), sum(held) " +
    "FROM transfer_tasks WHERE transfer_id IN ($1, $2) GROUP BY transfer_id",
    ["t1", "t2"],
  ],
];

/**
 * Jobs and batches: each pass of the orchestrator (transfers/service.ts tick()), the console's lists of
 * jobs and batches (newest first, a page), the search for batches left running (transfers/batch.ts
 * recover(), every 30 s). Each with its table and the index it must walk.
 */
const JOB_QUERIES: [string, string, string[], string, RegExp][] = [
  [
    "a pass's jobs",
    "SELECT * FROM transfers WHERE status IN ('pending', 'in_progress') ORDER BY priority DESC, created_at",
    [],
    "transfers",
    /transfers_status/,
  ],
  [
    "the newest jobs",
    "SELECT * FROM transfers ORDER BY created_at DESC, id DESC LIMIT 51 OFFSET $1",
    ["50"],
    "transfers",
    /transfers_created/,
  ],
  [
    "the newest batches",
    "SELECT id, kind, created_by, created_at FROM batches ORDER BY created_at DESC, id DESC LIMIT 21",
    [],
    "batches",
    /batches_created/,
  ],
  [
    "batches left running",
    "SELECT id, results FROM batches WHERE status = $1 AND updated_at < $2",
    ["running", "1000"],
    "batches",
    /batches_status/,
  ],
];

/** Each query's plan on `db` must name its index and scan no whole table. */
async function assertIndexed(
  db: HubDb,
  queries: [string, string, string[], string, RegExp][],
): Promise<[string, string][]> {
  const plans: [string, string][] = [];
  for (const [what, query, params, table, index] of queries) {
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
      assert.doesNotMatch(plan, new RegExp(`^SCAN ${table}$`, "m"), `${what}: ${plan}`);
    }
    assert.match(plan, index, `${what}: ${plan}`);
    plans.push([what, plan]);
  }
  return plans;
}

async function withHubDb(fn: (db: HubDb) => Promise<unknown>) {
  const dir = await Deno.makeTempDir({ prefix: "conduit-indexes-" });
  const db = await openHubDb(dir, testOnPostgres() ? await testDatabase() : undefined);
  try {
    await fn(db);
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("jobs and batches are found by state and newest first through an index, on either database", () =>
  withHubDb((db) => assertIndexed(db, JOB_QUERIES)));

/**
 * A page of a job's tasks (transfers/reads.ts tasks()), all of them or in one state, walks an index in
 * the page's order and stops at its end: no sort of the job's tasks. A pass's count of a job's tasks by
 * state (#settle) reads the index alone.
 */
const PAGE_QUERIES: [string, string, string[], string, RegExp][] = [
  [
    "a page of a job's tasks",
    "SELECT * FROM transfer_tasks WHERE transfer_id = $1 AND id > $2 ORDER BY id LIMIT 101",
    ["t1", "k1"],
    "transfer_tasks",
    /transfer_tasks_page/,
  ],
  [
    "a page of a job's tasks in one state",
    "SELECT * FROM transfer_tasks WHERE transfer_id = $1 AND status = $2 AND id > $3 ORDER BY id LIMIT 101",
    ["t1", "failure", "k1"],
    "transfer_tasks",
    /transfer_tasks_transfer/,
  ],
  [
    "a job's tasks counted by state",
    "SELECT status, count(*) FROM transfer_tasks WHERE transfer_id = $1 GROUP BY status",
    ["t1"],
    "transfer_tasks",
    /transfer_tasks_transfer/,
  ],
];

Deno.test("a page of a job's tasks and their count by state walk an index, unsorted, on either database", () =>
  withHubDb(async (db) => {
    const plans = await assertIndexed(db, PAGE_QUERIES);
    for (const [what, plan] of plans) {
      assert.doesNotMatch(plan, /TEMP B-TREE|Sort/, `${what}: ${plan}`);
      if (!db.pg && what.includes("counted")) assert.match(plan, /COVERING INDEX/, `${what}: ${plan}`);
    }
  }));

Deno.test("transfer tasks are found by state and by job through an index, on either database", () =>
  withHubDb((db) =>
    assertIndexed(
      db,
      TASK_QUERIES.map(([w, q, p]) => [w, q, p, "transfer_tasks", /transfer_tasks_(status|transfer)/]),
    )
  ));
