/**
 * The forward queue in libsql: every state change is one transaction on the single writer
 * connection (synchronous, so no two interleave). Rows are claimed by marking them in flight;
 * a restart returns in-flight rows to pending. Claims, releases and done marks are committed without a
 * disk flush (`Database.writeUnsynced`): one lost to a power loss only sends its object again.
 */
import type { Database } from "../index/db.ts";
import { type ComputedHash, recordHashes } from "../index/instances.ts";
import { ABANDONED, CANCELED, HELD_PREFIX, isTunnelRoute, STAGE_ROW_SQL } from "./keys.ts";
import type { StoredObject } from "../part10/stored.ts";

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
  /** Only when asked: objects stored at the node and awaiting its Storage Commitment report, and their UIDs. */
  committing?: number;
  committingUids?: string[];
}

export type QueueState = "pending" | "in_flight" | "failed" | "committing" | "done" | "dead";

/** A state as {@link Queue.summary} counts it: dead rows of a cancel or an abandonment apart. */
export type SummaryState = QueueState | "canceled" | "abandoned";

/** Who discarded dead rows: an operator, or the agent's purge of rows past `queue.keepDeadDays`. */
export type DiscardedBy = "operator" | "age";

/** A failed attempt's result for one row: `failed` and due at `next`, or `dead` (agent/queue/policy.ts decides). */
export interface FailedOutcome {
  status: number | null;
  error: string;
  dead: boolean;
  next: number;
}

/** Binary order, as SQLite's GROUP BY gave the summary's rows. */
const byText = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0;

/**
 * SQL assignments of a failed attempt: `state` and `last_error` from two parameters, in that order, except
 * that a row of a route canceled meanwhile (in flight, or awaiting its commitment report) stays dead with
 * its `canceled` error, so it is not tried again.
 */
const FAILED_UNLESS_CANCELED = `state = CASE WHEN last_error = '${CANCELED}' THEN 'dead' ELSE ? END,
  last_error = CASE WHEN last_error = '${CANCELED}' THEN last_error ELSE ? END`;

/** The states but `done`, as an SQL list (`state IN (...)` walks the queue_state index). */
const NOT_DONE = "'pending', 'in_flight', 'failed', 'committing', 'dead'";

/** Every queue state, in the order of a row's life. */
export const QUEUE_STATES: readonly QueueState[] = [
  "pending",
  "in_flight",
  "failed",
  "committing",
  "done",
  "dead",
];

/** A row stored at a node that commits, awaiting its Storage Commitment report. */
export interface CommittingRow {
  id: number;
  sopInstanceUid: string;
  sopClassUid: string;
  destination: string;
  attempts: number;
  commitUid: string;
  commitAsks: number;
  createdAt: number;
}

export interface QueueRow {
  id: number;
  sopInstanceUid: string;
  route: string;
  destination: string;
  state: QueueState;
  attempts: number;
  nextAttemptAt: number;
  lastStatus: number | null;
  lastError: string;
  createdAt: number;
  updatedAt: number;
  doneAt: number | null;
  /** The de-identified copy the row forwards (deid_copies.id), or null for the archived object. */
  copyId: number | null;
}

/**
 * A row as the tunnel shows it to the hub (QueueRowView): one awaiting its Storage Commitment report is still
 * on its way, in flight, unless the hub asked with `committing` (FEATURE_COMMITMENT_STATE): hubs of earlier
 * versions check the five states of before.
 */
export function hubRow(row: QueueRow): QueueRow & { state: Exclude<QueueState, "committing"> } {
  return { ...row, state: row.state === "committing" ? "in_flight" : row.state };
}

/** A claimed row with what a worker needs to send the object. */
export interface ClaimedRow extends QueueRow {
  /** The archive key of the object to send (the archived object, or its de-identified copy). */
  key: string;
  datasetOffset: number;
  datasetSize: number;
  transferSyntaxUid: string;
  sopClassUid: string;
  /** SHA-256 (hex) of the data set, as indexed. */
  sha256: string;
}

/** The stored object a claimed row sends. */
export function claimedObject(row: ClaimedRow): StoredObject {
  return {
    key: row.key,
    datasetOffset: row.datasetOffset,
    datasetSize: row.datasetSize,
    transferSyntax: row.transferSyntaxUid,
    sopClassUid: row.sopClassUid,
    sopInstanceUid: row.sopInstanceUid,
    sha256: row.sha256,
  };
}

const COLUMNS = `q.id, q.sop_instance_uid AS sopInstanceUid, q.route, q.destination, q.state, q.attempts,
  q.next_attempt_at AS nextAttemptAt, q.last_status AS lastStatus, q.last_error AS lastError,
  q.created_at AS createdAt, q.updated_at AS updatedAt, q.done_at AS doneAt, q.copy_id AS copyId`;

/**
 * Row ids bound in one statement: an operator's list is split into statements of at most so many (SQLite takes
 * at most 32 766 host parameters in one; a longer list was an error, "too many SQL variables").
 */
export const IDS_PER_STATEMENT = 1000;

/** The WHERE clause (and its arguments) of `conditions` narrowed to a destination and/or row ids. */
function selection(
  conditions: string[],
  args: (string | number)[],
  f: { destination?: string; ids?: number[] },
): { where: string; args: (string | number)[] } {
  const where = [...conditions];
  const all = [...args];
  if (f.destination) {
    where.push("destination = ?");
    all.push(f.destination);
  }
  if (f.ids?.length) {
    where.push(`id IN (${f.ids.map(() => "?").join(", ")})`);
    all.push(...f.ids);
  }
  return { where: where.join(" AND "), args: all };
}

export class Queue {
  /** Paused state by destination, as read or set (`isPaused`). */
  #paused = new Map<string, boolean>();

  constructor(private readonly db: Database) {}

  /** Records the data set hashes sends computed for objects the index had none for (ingest/backfill.ts). */
  recordHashes(hashes: ComputedHash[]): void {
    recordHashes(this.db, hashes);
  }

  /**
   * Rows for a new object; call inside the transaction that indexes it. A row it already has is queued
   * again (new bytes are routed again), except with `resend` false for the rows of an object the hub sent
   * for a node (`tunnel:` routes): those keep a row that is pending, in flight or done, as a resend of the
   * same object does (two copies that arrived at once, each committed as new, reach the node once).
   */
  addInTransaction(
    sopInstanceUid: string,
    targets: { route: string; destination: string }[],
    now = Date.now(),
    resend = true,
  ): void {
    const upsert = `INSERT INTO queue (sop_instance_uid, route, destination, state, attempts,
      next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?)
      ON CONFLICT (sop_instance_uid, route, destination) DO UPDATE SET state = 'pending', attempts = 0,
      next_attempt_at = excluded.next_attempt_at, last_error = '', last_status = NULL,
      updated_at = excluded.updated_at, done_at = NULL, commit_uid = NULL, commit_asks = 0`;
    const st = this.db.statement(upsert);
    const once = this.db.statement(`${upsert} WHERE queue.state IN ('failed', 'dead')`);
    for (const t of targets) {
      (resend || !isTunnelRoute(t.route) ? st : once).run(
        sopInstanceUid,
        t.route,
        t.destination,
        now,
        now,
        now,
      );
    }
  }

  /** Destinations with rows not yet done (pending, in flight or failed). */
  waitingDestinations(): string[] {
    return (this.db.statement(
      `SELECT DISTINCT destination FROM queue WHERE state IN ('pending', 'in_flight', 'failed')`,
    )
      .all() as { destination: string }[]).map((r) => r.destination);
  }

  /**
   * Queues `sops` for `destination` under `route` (a transfer): rows already done stay done, failed and
   * dead ones are queued again. Returns the rows (re)queued.
   */
  enqueueRoute(sops: string[], route: string, destination: string, now = Date.now()): number {
    return this.db.write(() => {
      const insert = this.db.statement(
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
  routeProgress(route: string): RouteProgress {
    // The rows not yet done from the queue_route_state index alone, in its order (no sort, however many
    // wait), grouped by state and last error (which says canceled or held); the done ones, millions on a busy
    // route, from the counter the triggers of migration 0014 keep (de-identification stage rows left out).
    const rows = this.db.statement(
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
    const last = this.db.statement(
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
   * rather than waiting.
   */
  delivery(
    destination: string,
    sops: string[],
    replayDead = false,
    now = Date.now(),
    committing = false,
  ): Delivery {
    const best = new Map<string, { rank: number; error: string }>();
    // Committed beats stored and awaiting commitment, which beats waiting to be sent, which beats dead.
    const rank = (state: string) =>
      state === "done" ? 4 : state === "committing" ? (committing ? 3 : 2) : state === "dead" ? 1 : 2;
    let lastDead = "", lastFailed = "", lastCommitting = "";
    for (let i = 0; i < sops.length; i += 500) {
      const chunk = sops.slice(i, i + 500);
      const marks = chunk.map(() => "?").join(", ");
      if (replayDead) {
        this.db.write(() =>
          this.db.statement(
            `UPDATE queue SET state = 'pending', attempts = 0, next_attempt_at = ?, updated_at = ?
            WHERE destination = ? AND state = 'dead' AND last_error != '${CANCELED}'
            AND sop_instance_uid IN (${marks})`,
          ).run(now, now, destination, ...chunk)
        );
      }
      const rows = this.db.statement(
        `SELECT sop_instance_uid AS sop, state, last_error AS lastError FROM queue
        WHERE destination = ? AND sop_instance_uid IN (${marks}) ORDER BY updated_at`,
      ).all(destination, ...chunk) as { sop: string; state: string; lastError: string }[];
      for (const r of rows) {
        if (r.state === "dead" && r.lastError === CANCELED) continue;
        const k = rank(r.state);
        if ((best.get(r.sop)?.rank ?? 0) < k) best.set(r.sop, { rank: k, error: r.lastError });
        if (r.state === "dead" && r.lastError) lastDead = r.lastError;
        if (r.state === "failed" && r.lastError) lastFailed = r.lastError;
        if (r.state === "committing" && r.lastError) lastCommitting = r.lastError;
      }
    }
    const d: Delivery = { done: 0, waiting: 0, dead: 0, unknown: 0 };
    const awaiting: string[] = [];
    for (const sop of new Set(sops)) {
      const k = best.get(sop)?.rank ?? 0;
      if (k === 4) d.done++;
      else if (k === 3) awaiting.push(sop);
      else if (k === 2) d.waiting++;
      else if (k === 1) d.dead++;
      else d.unknown++;
    }
    if (committing) Object.assign(d, { committing: awaiting.length, committingUids: awaiting });
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
   * {@link canceledSinceClaim} before it sends each and releases those canceled (release makes them dead).
   */
  cancelRoute(route: string, now = Date.now()): number {
    return this.db.write(() => {
      this.db.statement(`UPDATE queue SET last_error = '${CANCELED}', updated_at = ?
        WHERE route = ? AND state IN ('in_flight', 'committing')`).run(now, route);
      return this.db.statement(`UPDATE queue SET state = 'dead', last_error = '${CANCELED}', updated_at = ?
        WHERE route = ? AND state IN ('pending', 'failed')`).run(now, route).changes;
    });
  }

  /**
   * Holds a route's waiting rows (pending or failed) until `until`: none is claimed before. With
   * `until` 0, held pending rows are due now (failed ones keep their backoff). Returns the rows changed.
   */
  holdRoute(route: string, until: number, now = Date.now()): number {
    return this.db.write(() =>
      until > 0
        ? this.db.statement(`UPDATE queue SET next_attempt_at = ?, updated_at = ?
          WHERE route = ? AND state IN ('pending', 'failed') AND next_attempt_at < ?`).run(
          until,
          now,
          route,
          until,
        )
          .changes
        : this.db.statement(`UPDATE queue SET next_attempt_at = ?, updated_at = ?
          WHERE route = ? AND state = 'pending' AND next_attempt_at > ?`).run(now, now, route, now).changes
    );
  }

  /**
   * A route's rows, one per object, in the order they were queued: with a de-identification stage, an
   * object's stage row until it is done, then its copy's rows.
   */
  routeRows(route: string, limit = 1000): QueueRow[] {
    return this.db.statement(
      `SELECT ${COLUMNS} FROM queue q WHERE q.route = ? AND NOT (${STAGE_ROW_SQL} AND q.state = 'done')
      ORDER BY q.id LIMIT ?`,
    ).all(route, limit) as unknown as QueueRow[];
  }

  /** After a restart: rows a worker held when the process died are due again. */
  recover(now = Date.now()): number {
    return this.db.write(() =>
      this.db.statement(`UPDATE queue SET state = 'pending', next_attempt_at = ?, updated_at = ?
        WHERE state = 'in_flight'`).run(now, now).changes
    );
  }

  /**
   * Claims up to `limit` due rows of a destination (oldest first), marking them in flight. A row that
   * forwards a de-identified copy reads the copy's file; any other, the archived object's.
   */
  claim(destination: string, limit: number, now = Date.now()): ClaimedRow[] {
    // The select and the marks run in one synchronous call, so no other claim comes between them in
    // this process (the only writer of the queue); a claim that finds nothing opens no write transaction
    // (issue 16: a forward worker asks after every delivery, mostly in vain).
    const rows = this.db.statement(`SELECT ${COLUMNS}, coalesce(c.path, i.path) AS "key",
        coalesce(c.dataset_offset, i.dataset_offset) AS datasetOffset,
        coalesce(c.dataset_size, i.dataset_size) AS datasetSize,
        coalesce(c.transfer_syntax_uid, i.transfer_syntax_uid) AS transferSyntaxUid,
        coalesce(c.sop_class_uid, i.sop_class_uid) AS sopClassUid, coalesce(c.sha256, i.sha256) AS sha256
        FROM queue q LEFT JOIN deid_copies c ON c.id = q.copy_id AND c.removed_at IS NULL
        LEFT JOIN instances i ON q.copy_id IS NULL AND i.sop_instance_uid = q.sop_instance_uid
          AND i.removed_at IS NULL
        WHERE q.destination = ? AND q.state IN ('pending', 'failed') AND q.next_attempt_at <= ?
          AND (c.id IS NOT NULL OR i.sop_instance_uid IS NOT NULL)
        ORDER BY q.next_attempt_at, q.id LIMIT ?`).all(destination, now, limit) as unknown as ClaimedRow[];
    if (rows.length === 0) return rows;
    const mark = this.db.statement(`UPDATE queue SET state = 'in_flight', updated_at = ? WHERE id = ?`);
    this.db.writeUnsynced(() => {
      for (const r of rows) mark.run(now, r.id);
    });
    return rows;
  }

  /**
   * Records deliveries (one row or several, in one transaction). Like markFailed, it applies only to a
   * row still in flight: a row reset meanwhile (a keepLast replacement, a replay) keeps its new state.
   */
  markDone(ids: number | number[], now = Date.now(), statuses?: number[]): void {
    const st = this.db.statement(`UPDATE queue SET state = 'done', attempts = attempts + 1, last_status = ?,
        last_error = '', updated_at = ?, done_at = ? WHERE id = ? AND state = 'in_flight'`);
    this.db.writeUnsynced(() => {
      const list = typeof ids === "number" ? [ids] : ids;
      // The status the destination answered: 0, or a warning it stored the object with (0xB000...).
      list.forEach((id, i) => st.run(statuses?.[i] ?? 0, now, now, id));
    });
  }

  /**
   * Rows stored at a node that commits (Storage Commitment): in flight to `committing`, an attempt counted
   * with the status the C-STORE was answered with, asked under `transactionUid`, asked again at `deadline`
   * if no report came. One synced transaction, before the N-ACTION goes: a crash finds them and asks again.
   */
  markCommitting(
    rows: { id: number; status: number }[],
    transactionUid: string,
    deadline: number,
    now = Date.now(),
  ): void {
    const st = this.db.statement(`UPDATE queue SET state = 'committing', attempts = attempts + 1,
      last_status = ?, last_error = '', commit_uid = ?, commit_asks = 1, next_attempt_at = ?, updated_at = ?
      WHERE id = ? AND state = 'in_flight'`);
    this.db.write(() => {
      for (const r of rows) st.run(r.status, transactionUid, deadline, now, r.id);
    });
  }

  /** Committing rows asked under `transactionUid` (a report names them). */
  committingRows(transactionUid: string): CommittingRow[] {
    return this.#committing(`q.commit_uid = ?`, [transactionUid], 1_000_000);
  }

  /** Committing rows whose report is overdue (asked again), oldest first; only `destination`'s when named. */
  dueCommitments(now = Date.now(), limit = 1000, destination?: string): CommittingRow[] {
    return destination === undefined
      ? this.#committing(`q.next_attempt_at <= ?`, [now], limit)
      : this.#committing(`q.next_attempt_at <= ? AND q.destination = ?`, [now, destination], limit);
  }

  /** The destinations with committing rows whose report is overdue. */
  dueCommitmentDestinations(now = Date.now()): string[] {
    return (this.db.statement(
      `SELECT DISTINCT destination FROM queue WHERE state = 'committing' AND next_attempt_at <= ?`,
    ).all(now) as { destination: string }[]).map((r) => r.destination);
  }

  #committing(where: string, args: (string | number)[], limit: number): CommittingRow[] {
    return this.db.statement(`SELECT q.id, q.sop_instance_uid AS sopInstanceUid, q.destination,
      q.attempts, q.commit_uid AS commitUid, q.commit_asks AS commitAsks, q.created_at AS createdAt,
      coalesce(c.sop_class_uid, i.sop_class_uid, '') AS sopClassUid
      FROM queue q LEFT JOIN deid_copies c ON c.id = q.copy_id
      LEFT JOIN instances i ON q.copy_id IS NULL AND i.sop_instance_uid = q.sop_instance_uid
      WHERE q.state = 'committing' AND ${where} ORDER BY q.next_attempt_at, q.id LIMIT ?`)
      .all(...args, limit) as unknown as CommittingRow[];
  }

  /** Committing rows asked again under a new Transaction UID, due again at `deadline`. */
  markReasked(ids: number[], transactionUid: string, deadline: number, now = Date.now()): void {
    const st = this.db.statement(`UPDATE queue SET commit_uid = ?, commit_asks = commit_asks + 1,
      next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'committing'`);
    this.db.write(() => {
      for (const id of ids) st.run(transactionUid, deadline, now, id);
    });
  }

  /** A committing row whose N-ACTION did not go (or was refused): asked again at `next`. */
  commitmentDueAt(ids: number[], next: number, error: string, now = Date.now()): void {
    const st = this.db.statement(`UPDATE queue SET next_attempt_at = ?,
      last_error = CASE WHEN last_error = '${CANCELED}' THEN last_error ELSE ? END, updated_at = ?
      WHERE id = ? AND state = 'committing'`);
    this.db.write(() => {
      for (const id of ids) st.run(next, error.slice(0, 500), now, id);
    });
  }

  /** Committed by the node (its report says so): done. */
  markCommitted(ids: number[], transactionUid: string, now = Date.now()): number {
    const st = this.db.statement(`UPDATE queue SET state = 'done', last_error = '', commit_uid = NULL,
      updated_at = ?, done_at = ? WHERE id = ? AND state = 'committing' AND commit_uid = ?`);
    return this.db.write(() => ids.reduce((n, id) => n + st.run(now, now, id, transactionUid).changes, 0));
  }

  /**
   * The node did not commit it (its report's Failed SOP Sequence, or no report after the last ask): `failed`
   * and due at `next` (stored again), or `dead`, as a failed C-STORE.
   */
  markCommitFailed(
    id: number,
    outcome: { status: number | null; error: string; dead: boolean; next: number },
    now = Date.now(),
  ): boolean {
    return this.db.write(() =>
      // A row whose route was canceled while it awaited its report is not stored again.
      this.db.statement(`UPDATE queue SET ${FAILED_UNLESS_CANCELED}, last_status = ?,
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
  hasCommitting(): boolean {
    return this.db.statement(`SELECT 1 AS one FROM queue WHERE state = 'committing' LIMIT 1`).get() !==
      undefined;
  }

  /** After a restart: every row awaiting a report is asked again now (a crash may have kept its N-ACTION). */
  recoverCommitments(now = Date.now()): number {
    return this.db.write(() =>
      this.db.statement(`UPDATE queue SET next_attempt_at = ?, updated_at = ? WHERE state = 'committing'`)
        .run(now, now).changes
    );
  }

  /** Records a failed attempt: `failed` and due at `next`, or `dead`. */
  markFailed(id: number, outcome: FailedOutcome, now = Date.now()): void {
    this.markFailedMany([{ id, outcome }], now);
  }

  /**
   * Records failed attempts of several rows in one synced transaction, each with its own outcome (the
   * rows of an association that could not be opened: one flush, not one per row, while a node is down).
   * Each row changes as {@link markFailed} would change it; all of them or none are committed.
   */
  markFailedMany(failures: { id: number; outcome: FailedOutcome }[], now = Date.now()): void {
    if (failures.length === 0) return;
    // A row whose route was canceled while it was in flight is not tried again.
    const st = this.db.statement(`UPDATE queue SET ${FAILED_UNLESS_CANCELED}, attempts = attempts + 1,
      last_status = ?, next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'in_flight'`);
    this.db.write(() => {
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
   * Whether claimed row `id` belongs to a route canceled since it was claimed: its worker must not send it
   * (until 2026-12-05 a cancel let the whole claimed batch go, up to `queue.batchSize` objects).
   */
  canceledSinceClaim(row: { id: number }): boolean {
    return this.db.statement(`SELECT 1 AS one FROM queue WHERE id = ? AND last_error = '${CANCELED}'`)
      .get(row.id) !== undefined;
  }

  /**
   * Puts claimed rows back without counting an attempt (worker stopping, destination paused, the rest of a
   * batch whose association was lost), all in one transaction.
   */
  release(ids: number | number[], now = Date.now()): void {
    const list = typeof ids === "number" ? [ids] : ids;
    if (list.length === 0) return;
    const st = this.db.statement(
      `UPDATE queue SET state = CASE WHEN last_error = '${CANCELED}' THEN 'dead' ELSE 'pending' END,
      updated_at = ? WHERE id = ? AND state = 'in_flight'`,
    );
    this.db.writeUnsynced(() => {
      for (const id of list) st.run(now, id);
    });
  }

  /** Failed rows due now (retry), by destination or ids. Returns how many. */
  retry(filter: { destination?: string; ids?: number[] }, now = Date.now()): number {
    return this.#move("failed", "failed", filter, now, false);
  }

  /**
   * Dead rows back to pending with their attempts reset (replay), not those of a canceled route (a
   * transfer canceled at the hub is retried there). Returns how many.
   */
  replay(filter: { destination?: string; ids?: number[] }, now = Date.now()): number {
    return this.#move("dead", "pending", filter, now, true);
  }

  /**
   * Waiting rows (pending or failed, not in flight) given up by the operator: to the dead letter, with the
   * last error {@link ABANDONED}, where `replay` can bring them back. For rows that wait for a node removed
   * from the configuration, or a destination retired. Returns how many.
   */
  abandon(f: { destination?: string; ids?: number[] }, now = Date.now()): number {
    return this.#byIds(f, (part) => {
      const { where, args } = selection(["state IN ('pending', 'failed')"], [], part);
      return this.db.statement(
        `UPDATE queue SET state = 'dead', last_error = ?, updated_at = ? WHERE ${where}`,
      )
        .run(ABANDONED, now, ...args).changes;
    });
  }

  /**
   * Runs `change` in one transaction on the rows `f` names, its ids (duplicates dropped) split into statements
   * of at most {@link IDS_PER_STATEMENT}; returns the rows changed in all. All of them change, or none.
   */
  #byIds<F extends { ids?: number[] }>(f: F, change: (part: F) => number): number {
    if (!f.ids?.length) return this.db.write(() => change(f));
    const ids = [...new Set(f.ids)];
    return this.db.write(() => {
      let n = 0;
      for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
        n += change({ ...f, ids: ids.slice(i, i + IDS_PER_STATEMENT) });
      }
      return n;
    });
  }

  /**
   * Dead rows deleted for good (discard): those named by destination and/or ids, or dead since before
   * `deadBefore` (ms since epoch; their last change), or with `all` every one; never a row in another state.
   * Canceled and abandoned rows are dead rows too. Replay is no longer possible; the archived object stays
   * until a retention rule removes it (no row still to be sent holds it any more; it is marked discarded at
   * `now`, so that `archive.removeAfterForwardSeconds` takes it as it would a forwarded one). Returns how many;
   * {@link onDiscarded} hears of them.
   */
  discardDead(
    f: { destination?: string; ids?: number[]; deadBefore?: number; all?: boolean },
    by: DiscardedBy = "operator",
    now = Date.now(),
  ): number {
    if (!f.destination && !f.ids?.length && f.deadBefore === undefined && !f.all) {
      throw new Error("discard needs a destination, ids, an age or all");
    }
    const n = this.#byIds(f, (part) => {
      const { where, args } = part.deadBefore === undefined
        ? selection(["state = 'dead'"], [], part)
        : selection(["state = 'dead'", "updated_at < ?"], [part.deadBefore], part);
      // The archived objects (not de-identified copies) whose rows go are marked, for
      // `archive.removeAfterForwardSeconds` (agent/forward/retention.ts): they will never be sent.
      this.db.statement(`INSERT INTO queue_discarded (sop_instance_uid, discarded_at)
        SELECT DISTINCT d.sop_instance_uid, ? FROM queue d WHERE d.id IN (SELECT id FROM queue
          WHERE ${where} AND copy_id IS NULL)
          AND EXISTS (SELECT 1 FROM instances i WHERE i.sop_instance_uid = d.sop_instance_uid)
        ON CONFLICT (sop_instance_uid) DO UPDATE SET discarded_at = excluded.discarded_at`).run(now, ...args);
      return this.db.statement(`DELETE FROM queue WHERE ${where}`).run(...args).changes;
    });
    if (n) this.onDiscarded(n, by);
    return n;
  }

  /** Told of dead rows discarded (metrics). */
  onDiscarded: (count: number, by: DiscardedBy) => void = () => {};

  #move(
    from: QueueState,
    to: QueueState,
    f: { destination?: string; ids?: number[] },
    now: number,
    reset: boolean,
  ) {
    return this.#byIds(f, (part) => {
      const { where, args } = selection(
        from === "dead" ? ["state = ?", `last_error != '${CANCELED}'`] : ["state = ?"],
        [from],
        part,
      );
      return this.db.statement(`UPDATE queue SET state = ?, next_attempt_at = ?, updated_at = ?
        ${reset ? ", attempts = 0" : ""} WHERE ${where}`).run(to, now, now, ...args).changes;
    });
  }

  setPaused(destination: string, paused: boolean, now = Date.now()): void {
    this.db.write(() =>
      this.db.statement(`INSERT INTO destinations (name, paused, updated_at) VALUES (?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at`)
        .run(destination, paused ? 1 : 0, now)
    );
    this.#paused.set(destination, paused);
  }

  /**
   * Whether a destination is paused. Read once per destination and kept: `setPaused` is the only writer
   * (one Queue per agent), and a forward worker asks before every object it sends.
   */
  isPaused(destination: string): boolean {
    let paused = this.#paused.get(destination);
    if (paused === undefined) {
      const row = this.db.statement("SELECT paused FROM destinations WHERE name = ?").get(destination);
      paused = Boolean(row?.paused);
      this.#paused.set(destination, paused);
    }
    return paused;
  }

  /** Rows by state and destination, newest first. */
  list(f: { state?: QueueState; destination?: string; limit?: number } = {}): QueueRow[] {
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
    return this.db.statement(
      `SELECT ${COLUMNS} FROM queue q ${f.state === "done" ? "NOT INDEXED" : ""}
      ${where.length ? "WHERE " + where.join(" AND ") : ""} ORDER BY q.id DESC LIMIT ?`,
    ).all(...args, f.limit ?? 100) as unknown as QueueRow[];
  }

  /**
   * Counts by destination and state, and the age of the oldest row not yet done. Dead rows that need no one
   * (a transfer canceled at the hub, rows the operator abandoned) count apart as `canceled` and `abandoned`:
   * the dead letter's count (and its alert) is what is left for someone to look at.
   */
  summary(now = Date.now()): { destination: string; state: SummaryState; count: number; oldest: number }[] {
    // Rows not done are few and found by state (queue_state); done rows are most of the table (millions at
    // a busy site that keeps them) and are counted by triggers (queue_done_counts, migration 0011), their
    // oldest the first delivered, found by the same index: nothing here walks the done rows.
    const waiting = this.db.statement(`SELECT destination, CASE
        WHEN state = 'dead' AND last_error = '${CANCELED}' THEN 'canceled'
        WHEN state = 'dead' AND last_error = '${ABANDONED}' THEN 'abandoned'
        ELSE state END AS state, count(*) AS count, min(created_at) AS oldest
      FROM queue WHERE state IN (${NOT_DONE}) GROUP BY 1, 2`).all() as {
      destination: string;
      state: SummaryState;
      count: number;
      oldest: number;
    }[];
    const done = this.db.statement(`SELECT d.destination, 'done' AS state, d.count,
        (SELECT q.created_at FROM queue q WHERE q.state = 'done' AND q.destination = d.destination
          ORDER BY q.done_at LIMIT 1) AS oldest
      FROM queue_done_counts d WHERE d.count > 0`).all() as typeof waiting;
    return [...waiting, ...done]
      .map((r) => ({ ...r, oldest: now - r.oldest }))
      .sort((a, b) => byText(a.destination, b.destination) || byText(a.state, b.state));
  }

  /**
   * Deletes done rows delivered before `before` (ms since epoch), the records of de-identified copies
   * whose files are gone and that no row names any more, and transfers' de-identification requests that
   * no row belongs to; returns how many rows.
   */
  pruneDone(before: number, limit = 10_000): number {
    return this.db.write(() => {
      // By destination, so that queue_state finds the rows due (and none when none is) without walking the
      // done rows delivered since.
      const destinations = this.db.statement("SELECT destination FROM queue_done_counts WHERE count > 0")
        .all() as { destination: string }[];
      const prune = this.db.statement(`DELETE FROM queue WHERE id IN (SELECT id FROM queue
        WHERE state = 'done' AND destination = ? AND done_at < ? LIMIT ?)`);
      let n = 0;
      for (const { destination } of destinations) {
        if (n < limit) n += prune.run(destination, before, limit - n).changes;
      }
      this.db.statement(`DELETE FROM deid_copies WHERE id IN (SELECT c.id FROM deid_copies c
        WHERE c.removed_at IS NOT NULL AND c.removed_at < ?
          AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.copy_id = c.id) LIMIT ?)`).run(before, limit);
      // A transfer's de-identification request (its pseudonym table) goes with its last row.
      this.db.statement(`DELETE FROM deid_routes WHERE created_at < ?
        AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.route = deid_routes.route)`).run(before);
      return n;
    });
  }

  /** Destinations that have rows due now. */
  dueDestinations(now = Date.now()): string[] {
    return (this.db.statement(`SELECT DISTINCT destination FROM queue
      WHERE state IN ('pending', 'failed') AND next_attempt_at <= ?`).all(now) as { destination: string }[])
      .map((r) => r.destination);
  }

  /** The earliest time a failed or pending row becomes due, if any. */
  nextDue(): number | undefined {
    const row = this.db.statement(
      `SELECT min(next_attempt_at) AS t FROM queue WHERE state IN ('pending', 'failed')`,
    )
      .get();
    return (row?.t as number | null) ?? undefined;
  }
}
