/**
 * The forward queue in libsql: every state change is one transaction on the single writer
 * connection (synchronous, so no two interleave). Rows are claimed by marking them in flight;
 * a restart returns in-flight rows to pending. Claims, releases and done marks are committed without a
 * disk flush (`Database.writeUnsynced`): one lost to a power loss only sends its object again.
 *
 * `Queue` is the one handle the agent holds; the SQL of a row's life is in the files of this folder, read in
 * this order: rows.ts (what a row is), claims.ts (queued, claimed, released), outcomes.ts (done, failed,
 * pruned), commitments.ts (awaiting a node's Storage Commitment report), dead_letter.ts (retry, replay,
 * abandon, discard), transfers.ts (a route's rows and how far objects got), summaries.ts (lists and counts);
 * beside them keys.ts (the names rows carry), policy.ts (backoff) and copies.ts (de-identified copies).
 */
import type { Database } from "../index/db.ts";
import { type ComputedHash, recordHashes } from "../index/instances.ts";
import * as claims from "./claims.ts";
import * as commitments from "./commitments.ts";
import * as deadLetter from "./dead_letter.ts";
import * as outcomes from "./outcomes.ts";
import type {
  ClaimedRow,
  CommittingRow,
  DiscardedBy,
  FailedOutcome,
  QueueRow,
  QueueState,
  SummaryState,
} from "./rows.ts";
import * as summaries from "./summaries.ts";
import * as transfers from "./transfers.ts";
import type { Delivery, RouteProgress } from "./transfers.ts";

export class Queue {
  /** Paused state by destination, as read or set (`isPaused`). */
  #paused = new Map<string, boolean>();

  constructor(private readonly db: Database) {}

  /** Records the data set hashes sends computed for objects the index had none for (ingest/backfill.ts). */
  recordHashes(hashes: ComputedHash[]): void {
    recordHashes(this.db, hashes);
  }

  // Into the queue and out to a worker (claims.ts).

  addInTransaction(
    sopInstanceUid: string,
    targets: { route: string; destination: string; notBefore?: number }[],
    now = Date.now(),
    resend = true,
  ): void {
    claims.addInTransaction(this.db, sopInstanceUid, targets, now, resend);
  }

  waitingDestinations(): string[] {
    return claims.waitingDestinations(this.db);
  }

  recover(now = Date.now()): number {
    return claims.recover(this.db, now);
  }

  claim(destination: string, limit: number, now = Date.now()): ClaimedRow[] {
    return claims.claim(this.db, destination, limit, now);
  }

  canceledSinceClaim(row: { id: number }): boolean {
    return claims.canceledSinceClaim(this.db, row);
  }

  removedSinceClaim(row: { id: number }): boolean {
    return claims.removedSinceClaim(this.db, row);
  }

  release(ids: number | number[], now = Date.now()): void {
    claims.release(this.db, ids, now);
  }

  dueDestinations(now = Date.now()): string[] {
    return claims.dueDestinations(this.db, now);
  }

  nextDue(destination: string): number | undefined {
    return claims.nextDue(this.db, destination);
  }

  dueNow(destination: string, now = Date.now()): number {
    return claims.dueNow(this.db, destination, now);
  }

  // What came of an attempt (outcomes.ts).

  markDone(ids: number | number[], now = Date.now(), statuses?: number[]): void {
    outcomes.markDone(this.db, ids, now, statuses);
  }

  markFailedMany(failures: { id: number; outcome: FailedOutcome }[], now = Date.now()): void {
    outcomes.markFailedMany(this.db, failures, now);
  }

  pruneDone(before: number, limit = 10_000): number {
    return outcomes.pruneDone(this.db, before, limit);
  }

  /** Records a failed attempt: `failed` and due at `next`, or `dead`. */
  markFailed(id: number, outcome: FailedOutcome, now = Date.now()): void {
    this.markFailedMany([{ id, outcome }], now);
  }

  // Awaiting a Storage Commitment report (commitments.ts).

  markCommitting(
    rows: { id: number; status: number }[],
    transactionUid: string,
    deadline: number,
    now = Date.now(),
  ): void {
    commitments.markCommitting(this.db, rows, transactionUid, deadline, now);
  }

  committingRows(transactionUid: string): CommittingRow[] {
    return commitments.committingRows(this.db, transactionUid);
  }

  dueCommitments(now = Date.now(), limit = 1000, destination?: string): CommittingRow[] {
    return commitments.dueCommitments(this.db, now, limit, destination);
  }

  dueCommitmentDestinations(now = Date.now()): string[] {
    return commitments.dueCommitmentDestinations(this.db, now);
  }

  markReasked(ids: number[], transactionUid: string, deadline: number, now = Date.now()): void {
    commitments.markReasked(this.db, ids, transactionUid, deadline, now);
  }

  commitmentDueAt(ids: number[], next: number, error: string, now = Date.now()): void {
    commitments.commitmentDueAt(this.db, ids, next, error, now);
  }

  markCommitted(ids: number[], transactionUid: string, now = Date.now()): number {
    return commitments.markCommitted(this.db, ids, transactionUid, now);
  }

  markCommitFailed(
    id: number,
    outcome: { status: number | null; error: string; dead: boolean; next: number },
    now = Date.now(),
  ): boolean {
    return commitments.markCommitFailed(this.db, id, outcome, now);
  }

  hasCommitting(): boolean {
    return commitments.hasCommitting(this.db);
  }

  recoverCommitments(now = Date.now()): number {
    return commitments.recoverCommitments(this.db, now);
  }

  // The operator's retry, replay, abandon and discard (dead_letter.ts).

  retry(filter: { destination?: string; ids?: number[] }, now = Date.now()): number {
    const n = deadLetter.retry(this.db, filter, now);
    if (n) this.onRequeued(now);
    return n;
  }

  replay(filter: { destination?: string; ids?: number[] }, now = Date.now()): number {
    const n = deadLetter.replay(this.db, filter, now);
    if (n) this.onRequeued(now);
    return n;
  }

  /**
   * Rows an operator made due now (retry, replay), before any worker is woken: a route's window holds them
   * again while it is closed (routing/windows.ts; until 2026-12-08 they went at once, outside the window).
   */
  onRequeued: (now: number) => void = () => {};

  abandon(f: { destination?: string; ids?: number[] }, now = Date.now()): number {
    return deadLetter.abandon(this.db, f, now);
  }

  /** Dead rows deleted for good ({@link deadLetter.discardDead}); {@link onDiscarded} hears of them. */
  discardDead(
    f: { destination?: string; ids?: number[]; deadBefore?: number; all?: boolean },
    by: DiscardedBy = "operator",
    now = Date.now(),
  ): number {
    const n = deadLetter.discardDead(this.db, f, now);
    if (n) this.onDiscarded(n, by);
    return n;
  }

  /** Told of dead rows discarded (metrics). */
  onDiscarded: (count: number, by: DiscardedBy) => void = () => {};

  // A route's rows (transfers.ts).

  enqueueRoute(sops: string[], route: string, destination: string, now = Date.now()): number {
    return transfers.enqueueRoute(this.db, sops, route, destination, now);
  }

  routeProgress(route: string): RouteProgress {
    return transfers.routeProgress(this.db, route);
  }

  delivery(
    destination: string,
    sops: string[],
    replayDead = false,
    now = Date.now(),
    committing = false,
    listNotStored = false,
  ): Delivery {
    return transfers.delivery(this.db, destination, sops, replayDead, now, committing, listNotStored);
  }

  cancelRoute(route: string, now = Date.now()): number {
    return transfers.cancelRoute(this.db, route, now);
  }

  holdRoute(route: string, until: number, now = Date.now()): number {
    return transfers.holdRoute(this.db, route, until, now);
  }

  releaseUnwindowed(windowed: string[], now = Date.now()): number {
    return transfers.releaseUnwindowed(this.db, windowed, now);
  }

  routeRows(route: string, limit = 1000, after = 0): QueueRow[] {
    return transfers.routeRows(this.db, route, limit, after);
  }

  // Lists and counts (summaries.ts).

  list(f: { state?: QueueState; destination?: string; limit?: number } = {}): QueueRow[] {
    return summaries.list(this.db, f);
  }

  summary(
    now = Date.now(),
  ): { destination: string; state: SummaryState; count: number; oldest: number; held?: number }[] {
    return summaries.summary(this.db, now);
  }

  // Paused destinations.

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
}
