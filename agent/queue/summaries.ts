/** The queue as the console, the local HTTP API and the metrics see it: rows listed, and counts by state. */
import type { Database } from "../index/db.ts";
import { ABANDONED, CANCELED } from "./keys.ts";
import { COLUMNS, NOT_DONE, type QueueRow, type QueueState, type SummaryState } from "./rows.ts";

/** Binary order, as SQLite's GROUP BY gave the summary's rows. */
const byText = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0;

/** Rows by state and destination, newest first. */
export function list(
  db: Database,
  f: { state?: QueueState; destination?: string; limit?: number } = {},
): QueueRow[] {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (f.state) {
    where.push("q.state = ?");
    args.push(f.state);
  }
  if (f.destination) {
    where.push("q.destination = ?");
    args.push(f.destination);
  }
  // Done rows are most of the table: the newest are found walking back from the last id, where the
  // queue_state index would have every done row sorted first (seconds with millions of them).
  return db.statement(
    `SELECT ${COLUMNS} FROM queue q ${f.state === "done" ? "NOT INDEXED" : ""}
    ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY q.id DESC LIMIT ?`,
  ).all(...args, f.limit ?? 100) as unknown as QueueRow[];
}

/**
 * Counts by destination and state, and the age of the oldest row not yet done. Dead rows that need no one
 * (a transfer canceled at the hub, rows the operator abandoned) count apart as `canceled` and `abandoned`:
 * the dead letter's count (and its alert) is what is left for someone to look at.
 */
export function summary(
  db: Database,
  now = Date.now(),
): { destination: string; state: SummaryState; count: number; oldest: number; held?: number }[] {
  // Rows not done are few and found by state (queue_state); done rows are most of the table (millions at
  // a busy site that keeps them) and are counted by triggers (queue_done_counts, migration 0011), their
  // oldest the first delivered, found by the same index: nothing here walks the done rows.
  // A pending row waits from when it became due: a row a transfer's window holds (due at the opening) is not
  // late before it (until 2026-12-07 a row held since the morning for a nightly window was hours "old", and the
  // queue-not-draining alert fired for the normal use of windows; QA 35a). Held alone: age 0.
  const waiting = db.statement(`SELECT destination, CASE
      WHEN state = 'dead' AND last_error = '${CANCELED}' THEN 'canceled'
      WHEN state = 'dead' AND last_error = '${ABANDONED}' THEN 'abandoned'
      ELSE state END AS state, count(*) AS count,
      CASE WHEN state = 'pending'
        THEN coalesce(min(CASE WHEN next_attempt_at <= ?1 THEN max(created_at, next_attempt_at) END), ?1)
        ELSE min(created_at) END AS oldest,
      sum(CASE WHEN state = 'pending' AND next_attempt_at > ?1 THEN 1 ELSE 0 END) AS held
    FROM queue WHERE state IN (${NOT_DONE}) GROUP BY 1, 2`).all(now) as {
    destination: string;
    state: SummaryState;
    count: number;
    oldest: number;
    held?: number;
  }[];
  // `held`: of the pending rows, those not due yet (a route's or a transfer's window holds them): said only
  // when some are (until 2026-12-08 only `queue list` showed them, one row at a time).
  for (const r of waiting) if (!r.held) delete r.held;
  const done = db.statement(`SELECT d.destination, 'done' AS state, d.count,
      (SELECT q.created_at FROM queue q WHERE q.state = 'done' AND q.destination = d.destination
        ORDER BY q.done_at LIMIT 1) AS oldest
    FROM queue_done_counts d WHERE d.count > 0`).all() as typeof waiting;
  return [...waiting, ...done]
    .map((r) => ({ ...r, oldest: now - r.oldest }))
    .sort((a, b) => byText(a.destination, b.destination) || byText(a.state, b.state));
}
