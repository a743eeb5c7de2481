/**
 * Transfers at the source agent: the hub asks it to send a study to another site. The objects join
 * this agent's durable forward queue under the route `transfer:<id>`, so they travel exactly as
 * routed objects do (one stream each, done only on the destination's acknowledgement, resent after
 * a cut or a restart, taken idempotently at the destination). Re-running a transfer requeues only
 * what is not done; cancelling takes what is not done out of the queue.
 */
import type { Database } from "../index/db.ts";

export interface RouteProgress {
  pending: number;
  inFlight: number;
  failed: number;
  done: number;
  dead: number;
  canceled: number;
  lastError?: string;
}

/** Queues `sops` for `destination` under `route`; rows already done stay done. Returns rows (re)queued. */
export function enqueueTransfer(
  db: Database,
  sops: string[],
  route: string,
  destination: string,
  now = Date.now(),
) {
  return db.write(() => {
    const insert = db.statement(`INSERT INTO queue (sop_instance_uid, route, destination, state, attempts,
      next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)
      ON CONFLICT (sop_instance_uid, route, destination) DO UPDATE SET state = 'pending', attempts = 0,
      next_attempt_at = excluded.next_attempt_at, last_error = '', updated_at = excluded.updated_at
      WHERE queue.state IN ('failed', 'dead')`);
    let changed = 0;
    for (const sop of sops) changed += insert.run(sop, route, destination, now, now, now).changes;
    return changed;
  });
}

/** Counts of a route's rows by state. Canceled rows are dead rows whose last error says so. */
export function routeProgress(db: Database, route: string): RouteProgress {
  const rows = db.statement(`SELECT state, last_error = 'canceled' AS canceled, count(*) AS n FROM queue
    WHERE route = ? GROUP BY state, last_error = 'canceled'`).all(route) as {
    state: string;
    canceled: number;
    n: number;
  }[];
  const p: RouteProgress = { pending: 0, inFlight: 0, failed: 0, done: 0, dead: 0, canceled: 0 };
  for (const r of rows) {
    const n = Number(r.n);
    if (r.state === "pending") p.pending += n;
    else if (r.state === "in_flight") p.inFlight += n;
    else if (r.state === "failed") p.failed += n;
    else if (r.state === "done") p.done += n;
    else if (r.state === "dead" && r.canceled) p.canceled += n;
    else if (r.state === "dead") p.dead += n;
  }
  const last = db.statement(`SELECT last_error FROM queue WHERE route = ? AND state IN ('failed', 'dead')
    AND last_error != 'canceled' ORDER BY updated_at DESC LIMIT 1`).get(route) as
    | { last_error?: string }
    | undefined;
  if (last?.last_error) p.lastError = last.last_error;
  return p;
}

/** Takes a route's rows that are not done (nor in flight) out of the queue; returns how many. */
export function cancelTransfer(db: Database, route: string, now = Date.now()): number {
  return db.write(() =>
    db.statement(`UPDATE queue SET state = 'dead', last_error = 'canceled', updated_at = ?
      WHERE route = ? AND state IN ('pending', 'failed')`).run(now, route).changes
  );
}

/** A route's rows, one per object, in the order they were queued. */
export function routeObjects(db: Database, route: string, limit = 1000) {
  return (db.statement(`SELECT sop_instance_uid AS sopInstanceUid, state, attempts, last_error AS lastError,
    updated_at AS updatedAt FROM queue WHERE route = ? ORDER BY id LIMIT ?`).all(route, limit)) as {
    sopInstanceUid: string;
    state: string;
    attempts: number;
    lastError: string;
    updatedAt: number;
  }[];
}
