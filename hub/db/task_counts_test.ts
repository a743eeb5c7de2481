/**
 * `transfer_task_counts` (what `/metrics` reads at each scrape) against a fresh count of the tasks by state,
 * on a real hub database (PostgreSQL under `deno task test:pg`): filled like a year's at a small scale, then
 * upgraded from before the counts (the migration's fill from the rows there), then through every way a task's
 * state changes: a job created, its tasks started, done, failed, canceled, retried, many at once in mixed
 * states, deleted.
 */
import assert from "node:assert/strict";
import { and, count, eq, inArray, type SQL, sql } from "drizzle-orm";
import { Logger } from "@conduit/shared/log";
import { type HubDb, openHubDb } from "./db.ts";
import { transfers, transferTasks } from "./schema.ts";
import { TransferService } from "../transfers/service.ts";
import { fillHub, offlineSessions, scaled } from "../../tests/support/hub_scale.ts";
import { testDatabase, testOnPostgres } from "../../tests/support/postgres.ts";

/** The tasks counted by state, from their rows (states at 0 absent, as taskCounts() leaves them out). */
async function counted(db: HubDb): Promise<Record<string, number>> {
  const rows = await db.select({ state: transferTasks.status, n: count() }).from(transferTasks)
    .groupBy(transferTasks.status);
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

/**
 * What each migration after the counts' added, undone (newest first), so that the hub applies them again after
 * the counts': a new migration adds its own here.
 */
const AFTER_COUNTS = [
  "ALTER TABLE sites DROP COLUMN tunnel_throughput",
  "ALTER TABLE sites DROP COLUMN queue_held",
];

/** When the counts' migration was made, as its dialect's journal says (the key of its applied record). */
function countsMigratedAt(db: HubDb): number {
  const folder = db.engine === "postgres" ? "migrations_pg" : "migrations";
  const journal = JSON.parse(
    Deno.readTextFileSync(new URL(`./${folder}/meta/_journal.json`, import.meta.url)),
  );
  return (journal.entries as { when: number; tag: string }[]).find((e) =>
    e.tag.endsWith("_transfer_task_counts")
  )!
    .when;
}

/**
 * Leaves the database as the hub's version before the counts left it (the table, its triggers, its record, and
 * what later migrations added, with their records).
 */
async function beforeCounts(db: HubDb): Promise<void> {
  const run = (statement: string) =>
    db.engine === "postgres"
      ? (db as unknown as { execute(q: SQL): Promise<unknown> }).execute(sql.raw(statement))
      : db.run(sql.raw(statement));
  const on = db.engine === "postgres" ? " ON transfer_tasks" : "";
  for (const op of ["insert", "update", "delete"]) {
    await run(`DROP TRIGGER IF EXISTS transfer_task_counts_${op}${on}`);
  }
  if (db.engine === "postgres") await run("DROP FUNCTION transfer_task_counts_apply()");
  await run("DROP TABLE transfer_task_counts");
  const migrations = db.engine === "postgres" ? "drizzle.__drizzle_migrations" : "__drizzle_migrations";
  for (const statement of AFTER_COUNTS) await run(statement);
  await run(`DELETE FROM ${migrations} WHERE created_at >= ${countsMigratedAt(db)}`);
}

Deno.test("transfer_task_counts equals a count of the tasks by state after every change of state", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-task-counts-" });
  const url = testOnPostgres() ? await testDatabase() : undefined;
  let db = await openHubDb(dir, url);
  try {
    const filled = await fillHub(db, scaled(0.005));
    /** The service as the hub has it, every site offline; no pass runs after its actions here. */
    const service = () => {
      const s = new TransferService(
        db,
        offlineSessions,
        () => Promise.resolve(true),
        new Logger({}, "error"),
      );
      s.tick = () => Promise.resolve();
      return s;
    };
    const check = async (what: string) =>
      assert.deepEqual(await service().taskCounts(), await counted(db), what);
    await check("filled");
    assert.ok(Object.keys(await counted(db)).length >= 3, "the fill leaves tasks in several states");

    // An upgrade: the tasks are there before the counts, which the migration fills from them.
    await beforeCounts(db);
    await db.close();
    db = await openHubDb(dir, url);
    await check("upgraded");

    const id = (await service().create({
      source: { site: "site-01" },
      destination: { site: "site-02" },
      studies: ["1.2.3.1", "1.2.3.2", "1.2.3.3", "1.2.3.4"],
    }, "user:ops")).id;
    await check("created");
    const ids = (await db.select({ id: transferTasks.id }).from(transferTasks)
      .where(eq(transferTasks.transferId, id))).map((k) => k.id).sort();
    const set = async (status: string, which: string[], what: string) => {
      await db.update(transferTasks).set({ status, updatedAt: Date.now() }).where(
        inArray(transferTasks.id, which),
      );
      await check(what);
    };
    await db.update(transfers).set({ status: "in_progress" }).where(eq(transfers.id, id));
    await set("queued", ids.slice(0, 3), "queued");
    await set("in_progress", ids.slice(0, 3), "started");
    await set("success", ids.slice(0, 1), "done");
    await set("failure", ids.slice(1, 2), "failed");
    await set("in_progress", ids.slice(2, 3), "the same state again");
    await service().cancel(id, "user:ops");
    await check("canceled (canceling at an offline source, canceled when pending)");
    // The source, back, settles what it was canceling (a job still canceling is not retried).
    const canceling = (await db.select({ id: transferTasks.id }).from(transferTasks)
      .where(and(eq(transferTasks.transferId, id), eq(transferTasks.status, "canceling")))).map((k) => k.id);
    assert.ok(canceling.length > 0, "a task canceling at its offline source");
    await set("canceled", canceling, "settled by the source");
    await service().retry(id, "user:ops");
    await check("retried");
    // One statement over tasks in several states (PostgreSQL's triggers sum a statement's changes).
    await set("warning", [
      ...ids,
      ...(await db.select({ id: transferTasks.id }).from(transferTasks)
        .where(eq(transferTasks.transferId, filled.bigJobId))).map((k) => k.id),
    ], "many at once");
    await db.delete(transferTasks).where(eq(transferTasks.transferId, id));
    await check("deleted");
    assert.ok(
      (await service().taskCounts()).warning >= filled.scale.bigJob,
      "the big job's tasks, all warning",
    );
  } finally {
    await db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
