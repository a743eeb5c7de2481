/** The queue's rows as the rest of the agent sees them, and the SQL pieces the queue's files share. */
import type { StoredObject } from "../part10/stored.ts";
import { CANCELED } from "./keys.ts";

export type QueueState = "pending" | "in_flight" | "failed" | "committing" | "done" | "dead";

/** A state as `Queue.summary` counts it: dead rows of a cancel or an abandonment apart. */
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

/** The columns of a {@link QueueRow}, from the queue as `q`. */
export const COLUMNS =
  `q.id, q.sop_instance_uid AS sopInstanceUid, q.route, q.destination, q.state, q.attempts,
  q.next_attempt_at AS nextAttemptAt, q.last_status AS lastStatus, q.last_error AS lastError,
  q.created_at AS createdAt, q.updated_at AS updatedAt, q.done_at AS doneAt, q.copy_id AS copyId`;

/**
 * SQL assignments of a failed attempt: `state` and `last_error` from two parameters, in that order, except
 * that a row of a route canceled meanwhile (in flight, or awaiting its commitment report) stays dead with
 * its `canceled` error, so it is not tried again.
 */
export const FAILED_UNLESS_CANCELED = `state = CASE WHEN last_error = '${CANCELED}' THEN 'dead' ELSE ? END,
  last_error = CASE WHEN last_error = '${CANCELED}' THEN last_error ELSE ? END`;

/** The states but `done`, as an SQL list (`state IN (...)` walks the queue_state index). */
export const NOT_DONE = "'pending', 'in_flight', 'failed', 'committing', 'dead'";
