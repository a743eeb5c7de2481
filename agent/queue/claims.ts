/**
 * Rows into the queue and out to a worker: queued for a new object, claimed (marked in flight), released,
 * and found in flight again after a restart. Claims and releases are committed without a disk flush
 * (`Database.writeUnsynced`): one lost to a power loss only sends its object again.
 */
import type { Database } from "../index/db.ts";
import { CANCELED, isTunnelRoute } from "./keys.ts";
import { type ClaimedRow, COLUMNS } from "./rows.ts";

/**
 * Rows for a new object; call inside the transaction that indexes it. A row it already has is queued
 * again (new bytes are routed again), except with `resend` false for the rows of an object the hub sent
 * for a node (`tunnel:` routes): those keep a row that is pending, in flight or done, as a resend of the
 * same object does (two copies that arrived at once, each committed as new, reach the node once).
 */
export function addInTransaction(
  db: Database,
  sopInstanceUid: string,
  targets: { route: string; destination: string; notBefore?: number }[],
  now = Date.now(),
  resend = true,
): void {
  const upsert = `INSERT INTO queue (sop_instance_uid, route, destination, state, attempts,
    next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)
    ON CONFLICT (sop_instance_uid, route, destination) DO UPDATE SET state = 'pending', attempts = 0,
    next_attempt_at = excluded.next_attempt_at, last_error = '', last_status = NULL,
    updated_at = excluded.updated_at, done_at = NULL, commit_uid = NULL, commit_asks = 0`;
  const st = db.statement(upsert);
  const once = db.statement(`${upsert} WHERE queue.state IN ('failed', 'dead')`);
  for (const t of targets) {
    // A row its route's window holds is due at the opening (`notBefore`, routing/windows.ts).
    (resend || !isTunnelRoute(t.route) ? st : once).run(
      sopInstanceUid,
      t.route,
      t.destination,
      t.notBefore ?? now,
      now,
      now,
    );
  }
}

/** Destinations with rows not yet done (pending, in flight or failed). */
export function waitingDestinations(db: Database): string[] {
  return (db.statement(
    `SELECT DISTINCT destination FROM queue WHERE state IN ('pending', 'in_flight', 'failed')`,
  )
    .all() as { destination: string }[]).map((r) => r.destination);
}

/** After a restart: rows a worker held when the process died are due again. */
export function recover(db: Database, now = Date.now()): number {
  return db.write(() =>
    db.statement(`UPDATE queue SET state = 'pending', next_attempt_at = ?, updated_at = ?
      WHERE state = 'in_flight'`).run(now, now).changes
  );
}

/**
 * Claims up to `limit` due rows of a destination (oldest first), marking them in flight. A row that
 * forwards a de-identified copy reads the copy's file; any other, the archived object's.
 */
export function claim(db: Database, destination: string, limit: number, now = Date.now()): ClaimedRow[] {
  // The select and the marks run in one synchronous call, so no other claim comes between them in
  // this process (the only writer of the queue); a claim that finds nothing opens no write transaction
  // (issue 16: a forward worker asks after every delivery, mostly in vain).
  // Pending rows and failed ones apart, each walking the queue_due index in its order and stopping at
  // `limit`: asked together (`state IN (...)`), SQLite sorted every due row of the destination for each claim,
  // so a study of N objects cost N/batchSize sorts of what was left of it (qa93: a transfer's source spent
  // 1.6 times as much per object on 20 000 as on 2 000). The two are merged in the same order.
  const due = db.statement(`SELECT ${COLUMNS}, coalesce(c.path, i.path) AS "key",
      coalesce(c.dataset_offset, i.dataset_offset) AS datasetOffset,
      coalesce(c.dataset_size, i.dataset_size) AS datasetSize,
      coalesce(c.transfer_syntax_uid, i.transfer_syntax_uid) AS transferSyntaxUid,
      coalesce(c.sop_class_uid, i.sop_class_uid) AS sopClassUid, coalesce(c.sha256, i.sha256) AS sha256
      FROM queue q LEFT JOIN deid_copies c ON c.id = q.copy_id AND c.removed_at IS NULL
      LEFT JOIN instances i ON q.copy_id IS NULL AND i.sop_instance_uid = q.sop_instance_uid
        AND i.removed_at IS NULL
      WHERE q.destination = ? AND q.state = ? AND q.next_attempt_at <= ?
        AND (c.id IS NOT NULL OR i.sop_instance_uid IS NOT NULL)
      ORDER BY q.next_attempt_at, q.id LIMIT ?`);
  const take = (state: string) => due.all(destination, state, now, limit) as unknown as ClaimedRow[];
  // Whether any row of a state is due, asked first with one index seek: the query above costs 80 us even when
  // it finds nothing (libsql's binding sets up every column of its result per call), and a worker that keeps
  // pace with its queue asks after each small batch, mostly in vain, or finds only pending rows (issue 16).
  const failedDue = isDue(db, destination, "failed", now);
  if (!failedDue && !isDue(db, destination, "pending", now)) return [];
  const failed = failedDue ? take("failed") : [];
  const rows = failed.length === 0 ? take("pending") : [...take("pending"), ...failed]
    .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || a.id - b.id)
    .slice(0, limit);
  if (rows.length === 0) return rows;
  const mark = db.statement(`UPDATE queue SET state = 'in_flight', updated_at = ? WHERE id = ?`);
  db.writeUnsynced(() => {
    for (const r of rows) mark.run(now, r.id);
  });
  return rows;
}

/**
 * Whether claimed row `id` belongs to a route canceled since it was claimed: its worker must not send it
 * (until 2026-12-05 a cancel let the whole claimed batch go, up to `queue.batchSize` objects).
 */
export function canceledSinceClaim(db: Database, row: { id: number }): boolean {
  return db.statement(`SELECT 1 AS one FROM queue WHERE id = ? AND last_error = '${CANCELED}'`)
    .get(row.id) !== undefined;
}

/** Whether a claimed row is gone from the queue (its object erased meanwhile: erase.ts deletes its rows). */
export function removedSinceClaim(db: Database, row: { id: number }): boolean {
  return db.statement("SELECT 1 AS one FROM queue WHERE id = ?").get(row.id) === undefined;
}

/**
 * Puts claimed rows back without counting an attempt (worker stopping, destination paused, the rest of a
 * batch whose association was lost), all in one transaction.
 */
export function release(db: Database, ids: number | number[], now = Date.now()): void {
  const list = typeof ids === "number" ? [ids] : ids;
  if (list.length === 0) return;
  const st = db.statement(
    `UPDATE queue SET state = CASE WHEN last_error = '${CANCELED}' THEN 'dead' ELSE 'pending' END,
    updated_at = ? WHERE id = ? AND state = 'in_flight'`,
  );
  db.writeUnsynced(() => {
    for (const id of list) st.run(now, id);
  });
}

/**
 * A destination that got no answer before (refused, timed out, a site not connected) took an object: its rows
 * whose last attempt failed so (no status) are due now rather than each at its own backoff. Rows a
 * destination answered with a status keep theirs. Committed without a sync (one lost waits its backoff).
 */
export function dueNow(db: Database, destination: string, now = Date.now()): number {
  return db.writeUnsynced(() =>
    db.statement(`UPDATE queue SET next_attempt_at = ? WHERE destination = ? AND state = 'failed'
      AND last_status IS NULL AND next_attempt_at > ?`).run(now, destination, now).changes
  );
}

/** Destinations that have rows due now. */
export function dueDestinations(db: Database, now = Date.now()): string[] {
  return (db.statement(`SELECT DISTINCT destination FROM queue
    WHERE state IN ('pending', 'failed') AND next_attempt_at <= ?`).all(now) as { destination: string }[])
    .map((r) => r.destination);
}

/** Whether a row of `destination` in `state` is due at `now` (one seek in the queue_due index). */
function isDue(db: Database, destination: string, state: string, now: number): boolean {
  return db.statement(
    `SELECT 1 AS one FROM queue WHERE destination = ? AND state = ? AND next_attempt_at <= ? LIMIT 1`,
  ).get(destination, state, now) !== undefined;
}

/**
 * The earliest time a failed or pending row of `destination` becomes due, if any: one seek per state in the
 * queue_due index. (Until 2026-12-07 the earliest of every destination, which walked every pending and
 * failed row of the queue, 200 us at 100 rows, after each batch of a worker that kept pace with its queue;
 * and a worker woke for another destination's rows.)
 */
export function nextDue(db: Database, destination: string): number | undefined {
  const first = db.statement(
    `SELECT min(next_attempt_at) AS t FROM queue WHERE destination = ? AND state = ?`,
  );
  const times = [first.get(destination, "pending")?.t, first.get(destination, "failed")?.t]
    .filter((t): t is number => typeof t === "number");
  return times.length ? Math.min(...times) : undefined;
}
