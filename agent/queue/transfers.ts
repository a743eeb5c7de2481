/**
 * A route's rows (a transfer's, at its source): queued, counted by state, listed, held, canceled; and how
 * far some objects got to one destination, whatever the route that queued them.
 */
import type { Database } from "../index/db.ts";
import { CANCELED, HELD_PREFIX, STAGE_ROW_SQL } from "./keys.ts";
import { COLUMNS, NOT_DONE, type QueueRow } from "./rows.ts";

/** A route's rows by state (a transfer's progress at its source). */
export interface RouteProgress {
  pending: number;
  inFlight: number;
  failed: number;
  done: number;
  dead: number;
  canceled: number;
  /** Objects the de-identification stage held back (burned-in text policy). */
  held: number;
  lastError?: string;
}

/** How far some objects got to one destination (a transfer's delivery to its destination's node). */
export interface Delivery {
  done: number;
  waiting: number;
  dead: number;
  unknown: number;
  lastError?: string;
  /** Of `waiting`, the objects whose best row's last attempt failed (a node down): tried again later. */
  retrying?: number;
  /** Only when asked: objects stored at the node and awaiting its Storage Commitment report, and their UIDs. */
  committing?: number;
  committingUids?: string[];
  /** Only when asked: the objects counted waiting or dead, each with its best row's last error. */
  notStored?: NotStored[];
}

/**
 * What `notStored` may take of one reply (a control record is at most 1 MiB, `committingUids` besides): past
 * it the objects are left out, and the hub shows them as their source has them. Each error is cut to
 * NOT_STORED_ERROR characters (a node's reason is a line, not a page).
 */
export const NOT_STORED_BYTES = 600 * 1024;
const NOT_STORED_ERROR = 300;

/** An object not (yet) stored at the node: waiting to be sent to it, or dead after its last attempt. */
export interface NotStored {
  sopInstanceUid: string;
  state: "waiting" | "dead";
  lastError: string;
}

/**
 * Queues `sops` for `destination` under `route` (a transfer): rows already done stay done, failed and
 * dead ones are queued again. Returns the rows (re)queued.
 */
export function enqueueRoute(
  db: Database,
  sops: string[],
  route: string,
  destination: string,
  now = Date.now(),
): number {
  return db.write(() => {
    const insert = db.statement(
      `INSERT INTO queue (sop_instance_uid, route, destination, state, attempts,
      next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)
      ON CONFLICT (sop_instance_uid, route, destination) DO UPDATE SET state = 'pending', attempts = 0,
      next_attempt_at = excluded.next_attempt_at, last_error = '', updated_at = excluded.updated_at
      WHERE queue.state IN ('failed', 'dead')`,
    );
    let changed = 0;
    for (const sop of sops) changed += insert.run(sop, route, destination, now, now, now).changes;
    return changed;
  });
}

/**
 * A route's rows counted by state; canceled rows are dead rows whose last error says so. With a
 * de-identification stage, a stage row counts until it is done (its copy's rows count from then on);
 * an object the burned-in policy held back counts as held.
 */
export function routeProgress(db: Database, route: string): RouteProgress {
  // The rows not yet done from the queue_route_state index alone, in its order (no sort, however many
  // wait), grouped by state and last error (which says canceled or held); the done ones, millions on a busy
  // route, from the counter the triggers of migration 0014 keep (de-identification stage rows left out).
  const rows = db.statement(
    `SELECT state, last_error AS error, count(*) AS n FROM queue WHERE route = ? AND state IN (${NOT_DONE})
    GROUP BY state, last_error
    UNION ALL SELECT 'done', '', count FROM queue_route_done_counts WHERE route = ?`,
  ).all(route, route) as { state: string; error: string; n: number }[];
  const p: RouteProgress = { pending: 0, inFlight: 0, failed: 0, done: 0, dead: 0, canceled: 0, held: 0 };
  for (const r of rows) {
    const n = Number(r.n);
    if (r.state === "pending") p.pending += n;
    // Stored at a node that commits, awaiting its report: still on its way.
    else if (r.state === "in_flight" || r.state === "committing") p.inFlight += n;
    else if (r.state === "failed") p.failed += n;
    else if (r.state === "done") p.done += n;
    else if (r.state === "dead" && r.error === CANCELED) p.canceled += n;
    else if (r.state === "dead" && r.error.startsWith(HELD_PREFIX)) p.held += n;
    else if (r.state === "dead") p.dead += n;
  }
  const last = db.statement(
    `SELECT last_error FROM queue WHERE route = ? AND state IN ('failed', 'dead')
    AND last_error != '${CANCELED}' ORDER BY updated_at DESC LIMIT 1`,
  ).get(route) as { last_error?: string } | undefined;
  if (last?.last_error) p.lastError = last.last_error;
  return p;
}

/**
 * How far `sops` got to `destination`, whatever the route that queued them: each object by its best
 * row (done, else waiting, else dead; `unknown` without a row). With `replayDead`, their dead rows for
 * the destination (not canceled ones) are queued again first, attempts reset. With `committing`, an
 * object whose best row awaits the node's Storage Commitment report counts as `committing` (and is listed)
 * rather than waiting. With `listNotStored`, the objects counted waiting or dead are listed, each with
 * the last error of its best row.
 */
export function delivery(
  db: Database,
  destination: string,
  sops: string[],
  replayDead = false,
  now = Date.now(),
  committing = false,
  listNotStored = false,
): Delivery {
  const best = new Map<string, { rank: number; error: string; state: string }>();
  // Committed beats stored and awaiting commitment, which beats waiting to be sent, which beats dead.
  const rank = (state: string) =>
    state === "done" ? 4 : state === "committing" ? (committing ? 3 : 2) : state === "dead" ? 1 : 2;
  let lastDead = "", lastFailed = "", lastCommitting = "";
  for (let i = 0; i < sops.length; i += 500) {
    const chunk = sops.slice(i, i + 500);
    const marks = chunk.map(() => "?").join(", ");
    if (replayDead) {
      db.write(() =>
        db.statement(
          `UPDATE queue SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
          WHERE destination = ? AND state = 'dead' AND last_error != '${CANCELED}'
          AND sop_instance_uid IN (${marks})`,
        ).run(now, now, destination, ...chunk)
      );
    }
    const rows = db.statement(
      `SELECT sop_instance_uid AS sop, state, last_error AS lastError FROM queue
      WHERE destination = ? AND sop_instance_uid IN (${marks}) ORDER BY updated_at`,
    ).all(destination, ...chunk) as { sop: string; state: string; lastError: string }[];
    for (const r of rows) {
      if (r.state === "dead" && r.lastError === CANCELED) continue;
      const k = rank(r.state);
      if ((best.get(r.sop)?.rank ?? 0) < k) best.set(r.sop, { rank: k, error: r.lastError, state: r.state });
      if (r.state === "dead" && r.lastError) lastDead = r.lastError;
      if (r.state === "failed" && r.lastError) lastFailed = r.lastError;
      if (r.state === "committing" && r.lastError) lastCommitting = r.lastError;
    }
  }
  const d: Delivery = { done: 0, waiting: 0, dead: 0, unknown: 0, retrying: 0 };
  const awaiting: string[] = [];
  const notStored: NotStored[] = [];
  let listed = 0;
  for (const sop of new Set(sops)) {
    const row = best.get(sop);
    const k = row?.rank ?? 0;
    if (k === 4) d.done++;
    else if (k === 3) awaiting.push(sop);
    else if (k === 2) {
      d.waiting++;
      if (row!.state === "failed") d.retrying!++;
    } else if (k === 1) d.dead++;
    else d.unknown++;
    if (listNotStored && (k === 2 || k === 1)) {
      const lastError = row!.error.slice(0, NOT_STORED_ERROR);
      listed += sop.length + lastError.length * 2 + 64; // JSON: quotes, keys, escapes (at most double)
      if (listed <= NOT_STORED_BYTES) {
        notStored.push({ sopInstanceUid: sop, state: k === 1 ? "dead" : "waiting", lastError });
      }
    }
  }
  if (committing) Object.assign(d, { committing: awaiting.length, committingUids: awaiting });
  if (listNotStored) d.notStored = notStored;
  const lastError = d.dead
    ? lastDead
    : d.waiting && lastFailed
    ? lastFailed
    : committing && awaiting.length
    ? lastCommitting
    : "";
  return lastError ? { ...d, lastError } : d;
}

/**
 * Takes a route's waiting rows out of the queue (dead, "canceled"); returns how many. Rows in flight
 * finish their attempt, and rows awaiting commitment their report, marked so that one that does not get
 * through is not tried again. Rows claimed and not yet sent are in flight too: a worker asks
 * `Queue.canceledSinceClaim` before it sends each and releases those canceled (release makes them dead).
 */
export function cancelRoute(db: Database, route: string, now = Date.now()): number {
  return db.write(() => {
    db.statement(`UPDATE queue SET last_error = '${CANCELED}', updated_at = ?
      WHERE route = ? AND state IN ('in_flight', 'committing')`).run(now, route);
    return db.statement(`UPDATE queue SET state = 'dead', last_error = '${CANCELED}', updated_at = ?
      WHERE route = ? AND state IN ('pending', 'failed')`).run(now, route).changes;
  });
}

/**
 * Holds a route's waiting rows (pending or failed) until `until`: none is claimed before. Pending rows take
 * `until` whether it is later or earlier than the hold they had (a window moved to an earlier opening: until
 * 2026-12-07 they kept the later one, QA 35a); failed rows only a later time (their backoff stands). With
 * `until` 0, held pending rows are due now (failed ones keep their backoff). Returns the rows changed.
 */
export function holdRoute(db: Database, route: string, until: number, now = Date.now()): number {
  return db.write(() =>
    until > 0
      ? db.statement(`UPDATE queue SET next_attempt_at = ?, updated_at = ?
        WHERE route = ? AND ((state = 'pending' AND next_attempt_at <> ?)
          OR (state = 'failed' AND next_attempt_at < ?))`).run(until, now, route, until, until).changes
      : db.statement(`UPDATE queue SET next_attempt_at = ?, updated_at = ?
        WHERE route = ? AND state = 'pending' AND next_attempt_at > ?`).run(now, now, route, now).changes
  );
}

/**
 * Rows held by the window of a configured route that has none now (the window or the route removed, by a
 * reload or before a restart) are due now: pending rows of a configured route are held only by its window.
 * Transfers' and the hub's tunnel rows are left alone (the hub holds them), and so are the routes in
 * `windowed` (their window's own tick holds or releases them). Returns the rows released.
 */
export function releaseUnwindowed(db: Database, windowed: string[], now = Date.now()): number {
  const keep = windowed.length ? ` AND route NOT IN (${windowed.map(() => "?").join(", ")})` : "";
  return db.write(() =>
    db.statement(`UPDATE queue SET next_attempt_at = ?, updated_at = ?
      WHERE state = 'pending' AND next_attempt_at > ? AND route NOT LIKE 'transfer:%' AND route NOT LIKE 'tunnel:%'${keep}`)
      .run(now, now, now, ...windowed).changes
  );
}

/**
 * A route's rows, one per object, in the order they were queued: with a de-identification stage, an
 * object's stage row until it is done, then its copy's rows.
 */
export function routeRows(db: Database, route: string, limit = 1000, after = 0): QueueRow[] {
  return db.statement(
    `SELECT ${COLUMNS} FROM queue q WHERE q.route = ? AND q.id > ? AND NOT (${STAGE_ROW_SQL} AND q.state = 'done')
    ORDER BY q.id LIMIT ?`,
  ).all(route, after, limit) as unknown as QueueRow[];
}
