/**
 * What came of an attempt: done (committed without a disk flush: one lost to a power loss only sends its
 * object again), or failed and due again, or dead (agent/queue/policy.ts decides which); and done rows
 * pruned once kept long enough.
 */
import type { Database } from "../index/db.ts";
import { FAILED_UNLESS_CANCELED, type FailedOutcome } from "./rows.ts";

/**
 * Records deliveries (one row or several, in one transaction). Like markFailed, it applies only to a
 * row still in flight: a row reset meanwhile (a keepLast replacement, a replay) keeps its new state.
 */
export function markDone(db: Database, ids: number | number[], now = Date.now(), statuses?: number[]): void {
  const st = db.statement(`UPDATE queue SET state = 'done', attempts = attempts + 1, last_status = ?,
      last_error = '', updated_at = ?, done_at = ? WHERE id = ? AND state = 'in_flight'`);
  db.writeUnsynced(() => {
    const list = typeof ids === "number" ? [ids] : ids;
    // The status the destination answered: 0, or a warning it stored the object with (0xB000...).
    list.forEach((id, i) => st.run(statuses?.[i] ?? 0, now, now, id));
  });
}

/**
 * Records failed attempts of several rows in one synced transaction, each with its own outcome (the
 * rows of an association that could not be opened: one flush, not one per row, while a node is down).
 * Each row changes as `Queue.markFailed` would change it; all of them or none are committed.
 */
export function markFailedMany(
  db: Database,
  failures: { id: number; outcome: FailedOutcome }[],
  now = Date.now(),
): void {
  if (failures.length === 0) return;
  // A row whose route was canceled while it was in flight is not tried again.
  const st = db.statement(`UPDATE queue SET ${FAILED_UNLESS_CANCELED}, attempts = attempts + 1,
    last_status = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'in_flight'`);
  db.write(() => {
    for (const { id, outcome } of failures) {
      st.run(
        outcome.dead ? "dead" : "failed",
        outcome.error.slice(0, 500),
        outcome.status,
        outcome.next,
        now,
        id,
      );
    }
  });
}

/**
 * Deletes done rows delivered before `before` (ms since epoch), the records of de-identified copies
 * whose files are gone and that no row names any more, and transfers' de-identification requests that
 * no row belongs to; returns how many rows.
 */
export function pruneDone(db: Database, before: number, limit = 10_000): number {
  return db.write(() => {
    // By destination, so that queue_state finds the rows due (and none when none is) without walking the
    // done rows delivered since.
    const destinations = db.statement("SELECT destination FROM queue_done_counts WHERE count > 0")
      .all() as { destination: string }[];
    const prune = db.statement(`DELETE FROM queue WHERE id IN (SELECT id FROM queue
      WHERE state = 'done' AND destination = ? AND done_at < ? LIMIT ?)`);
    let n = 0;
    for (const { destination } of destinations) {
      if (n < limit) n += prune.run(destination, before, limit - n).changes;
    }
    db.statement(`DELETE FROM deid_copies WHERE id IN (SELECT c.id FROM deid_copies c
      WHERE c.removed_at IS NOT NULL AND c.removed_at < ?
        AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.copy_id = c.id) LIMIT ?)`).run(before, limit);
    // A transfer's de-identification request (its pseudonym table) goes with its last row.
    db.statement(`DELETE FROM deid_routes WHERE created_at < ?
      AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.route = deid_routes.route)`).run(before);
    return n;
  });
}
