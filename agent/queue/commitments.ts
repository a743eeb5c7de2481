/**
 * Rows stored at a node that commits (Storage Commitment): `committing` until the node's report says
 * committed (done) or not (failed or dead, as a failed C-STORE), asked again when the report is overdue.
 */
import type { Database } from "../index/db.ts";
import { CANCELED } from "./keys.ts";
import { type CommittingRow, FAILED_UNLESS_CANCELED } from "./rows.ts";

/**
 * Rows stored at a node that commits (Storage Commitment): in flight to `committing`, an attempt counted
 * with the status the C-STORE was answered with, asked under `transactionUid`, asked again at `deadline`
 * if no report came. One synced transaction, before the N-ACTION goes: a crash finds them and asks again.
 */
export function markCommitting(
  db: Database,
  rows: { id: number; status: number }[],
  transactionUid: string,
  deadline: number,
  now = Date.now(),
): void {
  const st = db.statement(`UPDATE queue SET state = 'committing', attempts = attempts + 1,
    last_status = ?, last_error = '', commit_uid = ?, commit_asks = 1, next_attempt_at = ?, updated_at = ?
    WHERE id = ? AND state = 'in_flight'`);
  db.write(() => {
    for (const r of rows) st.run(r.status, transactionUid, deadline, now, r.id);
  });
}

/** Committing rows asked under `transactionUid` (a report names them). */
export function committingRows(db: Database, transactionUid: string): CommittingRow[] {
  return committingWhere(db, `q.commit_uid = ?`, [transactionUid], 1_000_000);
}

/** Committing rows whose report is overdue (asked again), oldest first; only `destination`'s when named. */
export function dueCommitments(
  db: Database,
  now = Date.now(),
  limit = 1000,
  destination?: string,
): CommittingRow[] {
  return destination === undefined
    ? committingWhere(db, `q.next_attempt_at <= ?`, [now], limit)
    : committingWhere(db, `q.next_attempt_at <= ? AND q.destination = ?`, [now, destination], limit);
}

/** The destinations with committing rows whose report is overdue. */
export function dueCommitmentDestinations(db: Database, now = Date.now()): string[] {
  return (db.statement(
    `SELECT DISTINCT destination FROM queue WHERE state = 'committing' AND next_attempt_at <= ?`,
  ).all(now) as { destination: string }[]).map((r) => r.destination);
}

function committingWhere(
  db: Database,
  where: string,
  args: (string | number)[],
  limit: number,
): CommittingRow[] {
  return db.statement(`SELECT q.id, q.sop_instance_uid AS sopInstanceUid, q.destination,
    q.attempts, q.commit_uid AS commitUid, q.commit_asks AS commitAsks, q.created_at AS createdAt,
    coalesce(c.sop_class_uid, i.sop_class_uid, '') AS sopClassUid
    FROM queue q LEFT JOIN deid_copies c ON c.id = q.copy_id
    LEFT JOIN instances i ON q.copy_id IS NULL AND i.sop_instance_uid = q.sop_instance_uid
    WHERE q.state = 'committing' AND ${where} ORDER BY q.next_attempt_at, q.id LIMIT ?`)
    .all(...args, limit) as unknown as CommittingRow[];
}

/** Committing rows asked again under a new Transaction UID, due again at `deadline`. */
export function markReasked(
  db: Database,
  ids: number[],
  transactionUid: string,
  deadline: number,
  now = Date.now(),
): void {
  const st = db.statement(`UPDATE queue SET commit_uid = ?, commit_asks = commit_asks + 1,
    next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'committing'`);
  db.write(() => {
    for (const id of ids) st.run(transactionUid, deadline, now, id);
  });
}

/** A committing row whose N-ACTION did not go (or was refused): asked again at `next`. */
export function commitmentDueAt(
  db: Database,
  ids: number[],
  next: number,
  error: string,
  now = Date.now(),
): void {
  const st = db.statement(`UPDATE queue SET next_attempt_at = ?,
    last_error = CASE WHEN last_error = '${CANCELED}' THEN last_error ELSE ? END, updated_at = ?
    WHERE id = ? AND state = 'committing'`);
  db.write(() => {
    for (const id of ids) st.run(next, error.slice(0, 500), now, id);
  });
}

/** Committed by the node (its report says so): done. */
export function markCommitted(db: Database, ids: number[], transactionUid: string, now = Date.now()): number {
  const st = db.statement(`UPDATE queue SET state = 'done', last_error = '', commit_uid = NULL,
    updated_at = ?, done_at = ? WHERE id = ? AND state = 'committing' AND commit_uid = ?`);
  return db.write(() => ids.reduce((n, id) => n + st.run(now, now, id, transactionUid).changes, 0));
}

/**
 * The node did not commit it (its report's Failed SOP Sequence, or no report after the last ask): `failed`
 * and due at `next` (stored again), or `dead`, as a failed C-STORE.
 */
export function markCommitFailed(
  db: Database,
  id: number,
  outcome: { status: number | null; error: string; dead: boolean; next: number },
  now = Date.now(),
): boolean {
  return db.write(() =>
    // A row whose route was canceled while it awaited its report is not stored again.
    db.statement(`UPDATE queue SET ${FAILED_UNLESS_CANCELED}, last_status = ?,
      commit_uid = NULL, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'committing'`).run(
      outcome.dead ? "dead" : "failed",
      outcome.error.slice(0, 500),
      outcome.status,
      outcome.next,
      now,
      id,
    ).changes > 0
  );
}

/** Whether any row awaits a Storage Commitment report (a node that asked for it before a restart). */
export function hasCommitting(db: Database): boolean {
  return db.statement(`SELECT 1 AS one FROM queue WHERE state = 'committing' LIMIT 1`).get() !==
    undefined;
}

/** After a restart: every row awaiting a report is asked again now (a crash may have kept its N-ACTION). */
export function recoverCommitments(db: Database, now = Date.now()): number {
  return db.write(() =>
    db.statement(`UPDATE queue SET next_attempt_at = ?, updated_at = ? WHERE state = 'committing'`)
      .run(now, now).changes
  );
}
