/**
 * What the Forwarder hands to the sending of a batch of claimed rows (to_node.ts, to_site.ts,
 * to_stage.ts), and how their failed attempts are recorded: each row by the queue's policy (failed and due
 * again after its backoff, or dead), all of a batch in one synced transaction.
 */
import type { AgentConfig } from "../config/schema.ts";
import type { Archive } from "../archive/archive.ts";
import { backoffMs, classify } from "../queue/policy.ts";
import type { Queue } from "../queue/queue.ts";
import type { ClaimedRow, FailedOutcome } from "../queue/rows.ts";
import type { DeidStage } from "./deid_stage.ts";
import type { DoneBatch } from "./done_batch.ts";
import type { CommitmentRequests } from "./commitment_requests.ts";
import type { ForwardEvent } from "./forwarder.ts";

/** The Forwarder's state a batch reads (live: read at each call). */
export interface BatchContext {
  readonly config: AgentConfig;
  readonly queue: Queue;
  readonly archive: Archive;
  readonly onEvent: (e: ForwardEvent) => void;
  /** Acknowledged rows, marked done in groups (done_batch.ts). */
  readonly done: DoneBatch;
  /** The de-identification stage, for `deid:<route>` rows. */
  readonly stage?: DeidStage;
  /** False once stop() began. */
  running(): boolean;
  /** True once stop() aborted the associations: what they were sending goes back to pending. */
  aborted(): boolean;
  /** Storage Commitment requests in force (set later when a reload adds the first node that asks). */
  commitments(): CommitmentRequests | undefined;
  /** Starts workers for a destination that has none yet. */
  ensure(destination: string): void;
  /** New rows for a destination: start now rather than at the next poll. */
  wake(destination: string): void;
  /**
   * The destination took an object: if attempts to it failed unanswered since (refused, timed out, a site
   * not connected), it is back, and those rows are due now instead of each at its own backoff.
   */
  reached(destination: string): void;
  /** Attempts to the destination failed without an answer (record() below). */
  unreached(destination: string): void;
}

/** One row's failed attempt, as Queue.markFailedMany records it. */
export type Failure = { id: number; outcome: FailedOutcome };

/**
 * Records one failure for every row in `rows` (an association that did not open fails its whole batch):
 * each row by the policy's outcome for its own attempts, all in one synced transaction.
 */
export function failedAll(
  b: BatchContext,
  rows: ClaimedRow[],
  status: number | null,
  error: string,
  destination: string,
  permanentFailure = false,
): void {
  record(b, rows.map((row) => failure(b, row, status, error, permanentFailure)), destination);
}

/** A failed attempt of `row` as the policy decides it: failed and due again after its backoff, or dead. */
export function failure(
  b: BatchContext,
  row: ClaimedRow,
  status: number | null,
  error: string,
  permanentFailure = false,
): Failure {
  const q = b.config.queue;
  const permanent = (permanentFailure || classify(status) === "permanent") && !q.retryPermanent;
  const attempt = row.attempts + 1;
  const dead = permanent || attempt >= q.maxAttempts;
  const next = Date.now() + backoffMs(attempt, q.backoffBaseSeconds * 1000, q.backoffCapSeconds * 1000);
  return { id: row.id, outcome: { status, error, dead, next } };
}

/**
 * Records `failures` (and `unattempted`, rows to record that were no attempt: held back) in one synced
 * transaction, then tells the metrics of the attempts. Until then the rows stay in flight, which no worker
 * claims; a crash before leaves them to the next start, which tries them again (that attempt not counted).
 */
export function record(
  b: BatchContext,
  failures: Failure[],
  destination: string,
  unattempted: Failure[] = [],
): void {
  if (failures.length + unattempted.length === 0) return;
  b.queue.markFailedMany([...failures, ...unattempted]);
  if (failures.some((f) => f.outcome.status === null && !f.outcome.dead)) b.unreached(destination);
  for (const f of failures) {
    const outcome = f.outcome.dead ? "dead" : "failed";
    b.onEvent({ type: "attempt", destination, status: f.outcome.status, outcome });
  }
}
