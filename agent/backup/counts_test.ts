import assert from "node:assert/strict";
import * as path from "node:path";
import LibsqlDatabase from "libsql";
import { fillBigIndex } from "../../tests/support/big_index.ts";
import { Database } from "../index/db.ts";
import { type Connection, countsOf } from "./counts.ts";

/** A filled agent.db (a busy site's year at a small scale) with tombstones and a row of every state. */
async function filledFile(): Promise<{ file: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "backup-counts-test-" });
  const file = path.join(dir, "agent.db");
  const db = await Database.open(file, { durable: false });
  try {
    fillBigIndex(db, { scale: 0.002 });
    db.write(() => {
      db.statement("UPDATE instances SET removed_at = 1, path = '' WHERE rowid <= 50").run();
      db.statement(
        "UPDATE queue SET state = 'in_flight' WHERE id IN (SELECT id FROM queue WHERE state = 'pending' LIMIT 3)",
      )
        .run();
      db.statement(
        "UPDATE queue SET state = 'committing' WHERE id IN (SELECT id FROM queue WHERE state = 'done' LIMIT 2)",
      )
        .run();
    });
  } finally {
    db.close();
  }
  return { file, dir };
}

/** What the manifest counted before 2026-12-05: every row. */
function countedRowByRow(db: Connection) {
  const n = (sql: string) => Number(db.prepare(sql).get()?.n);
  const queue: Record<string, number> & { total: number } = { total: 0 };
  for (const r of db.prepare("SELECT state, count(*) AS n FROM queue GROUP BY state ORDER BY state").all()) {
    queue[String(r.state)] = Number(r.n);
    queue.total += Number(r.n);
  }
  return {
    instances: n("SELECT count(*) AS n FROM instances WHERE removed_at IS NULL"),
    removed: n("SELECT count(*) AS n FROM instances WHERE removed_at IS NOT NULL"),
    queue,
  };
}

/** countsOf() on `db`, with SQLite's plan of each statement it ran. */
function countsWithPlans(db: Connection) {
  const ran: { sql: string; params: unknown[] }[] = [];
  const recording = {
    ...db,
    prepare: (sql: string) => {
      const st = db.prepare(sql);
      return {
        run: (...p: unknown[]) => (ran.push({ sql, params: p }), st.run(...p)),
        get: (...p: unknown[]) => (ran.push({ sql, params: p }), st.get(...p)),
        all: (...p: unknown[]) => (ran.push({ sql, params: p }), st.all(...p)),
      };
    },
  } as Connection;
  const counts = countsOf(recording);
  const plans = ran.map(({ sql, params }) =>
    db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((r) => String(r.detail)).join("\n")
  );
  return { counts, plans };
}

Deno.test("countsOf() reads the counters and the rows not done, never a walk of the queue or the instance rows", async () => {
  const { file, dir } = await filledFile();
  const db = new LibsqlDatabase(file, { readonly: true }) as unknown as Connection;
  try {
    const { counts, plans } = countsWithPlans(db);
    assert.deepEqual(counts, countedRowByRow(db));
    assert.equal(counts.removed, 50);
    assert.ok(counts.queue.committing === 2 && counts.queue.in_flight === 3 && counts.queue.done > 1000);
    for (const plan of plans) {
      // A count of the smallest index of the instances (count(*)) is allowed; not one of the table or the queue.
      assert.doesNotMatch(plan, /\bSCAN queue\b|\bSCAN instances$/m, plan);
    }
    assert.match(plans.join("\n"), /queue_done_counts/);
    assert.match(plans.join("\n"), /archive_totals/);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("countsOf() counts a copy of an index from before the counters row by row", async () => {
  const { file, dir } = await filledFile();
  const db = new LibsqlDatabase(file) as unknown as Connection;
  try {
    const expected = countedRowByRow(db);
    db.exec("DROP TABLE queue_done_counts; DROP TABLE archive_totals");
    assert.deepEqual(countsOf(db), expected);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
