/**
 * Storage Commitment as SCU on forwarding (PS3.4 J.3, nodes with `storageCommitment: true`): after a batch's
 * C-STOREs to such a node succeeded, its rows become `committing` under a new Transaction UID (one synced
 * transaction) and an N-ACTION asks the node to commit them, on the batch's association. The report
 * (N-EVENT-REPORT) comes on that association, or on one the node opens to the agent's SCP: committed rows are
 * done; failed ones (Failed SOP Sequence) are stored again or go to the dead letter by the queue's rules.
 * Rows without a report by their deadline (`commitmentTimeoutSeconds`, doubling, at most 8 times) are asked
 * again under a new Transaction UID on a new association; after `queue.maxAttempts` asks they are stored
 * again like a failed C-STORE. A restart asks again at once for every row awaiting a report.
 */
import { randomBytes } from "node:crypto";
import { hashUid, type Logger } from "@conduit/shared/log";
import type { AgentConfig, NodeConfig } from "../config/schema.ts";
import {
  type AssociationInfo,
  type CommitmentReport,
  type CommitmentReportHandler,
  isWarning,
  Status,
  statusHex,
} from "../dimse/handlers.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import { scuTo } from "../nodes/connect.ts";
import { NoContextAcceptedError } from "../dimse/scu_errors.ts";
import { backoffMs, classify } from "../queue/policy.ts";
import type { Queue } from "../queue/queue.ts";
import type { ClaimedRow, CommittingRow } from "../queue/rows.ts";

/** What the commitment requests report (metrics hook). */
export type CommitmentEvent = {
  type: "commitment";
  destination: string;
  /** requested: an N-ACTION answered Success; committed/failed: instances in a report; timeout: asked again. */
  outcome: "requested" | "refused" | "committed" | "failed" | "timeout";
  count: number;
  /** With `committed`: for each instance, from its Success at the agent to its commitment (ms). */
  latenciesMs?: number[];
};

/** How often overdue rows are looked for. */
const SWEEP_MS = 1_000;
/** Instances named in one N-ACTION at most (a large backlog is asked for in several). */
const MAX_REFERENCES = 1_000;
/** Overdue rows of one destination taken by one sweep at most (the next sweep takes more). */
const MAX_DUE = 1_000;
/**
 * How long an association opened to ask again stays open for the report (a node may send it only on the
 * request's association while it is open, as the agent's own SCP does for a requester it cannot reach).
 */
const REPORT_WAIT_MS = 10_000;

/** A new Transaction UID (2.25 and 128 random bits). */
export function newTransactionUid(): string {
  return `2.25.${BigInt("0x" + randomBytes(16).toString("hex")).toString()}`;
}

export class CommitmentRequests implements CommitmentReportHandler {
  #timer: ReturnType<typeof setInterval> | undefined;
  /** The destinations being asked again, with the ask under way. */
  #asking = new Map<string, Promise<void>>();
  #open = new Set<ScuAssociation>();
  #stopped = false;
  /** Asks waiting on their association for their report, by Transaction UID. */
  #waiting = new Map<string, () => void>();

  constructor(
    private readonly config: AgentConfig,
    private readonly queue: Queue,
    private readonly log: Logger,
    private readonly onEvent: (e: CommitmentEvent) => void = () => {},
  ) {}

  /** Rows awaiting a report when the agent stopped are asked again now; overdue ones from then on. */
  start(): void {
    this.#stopped = false;
    const n = this.queue.recoverCommitments();
    if (n) this.log.info("rows awaiting storage commitment at the last stop are asked again", { count: n });
    // An agent with no node that commits and nothing left awaiting a report has nothing to look at.
    if (!n && !Object.values(this.config.nodes).some((node) => node.storageCommitment)) return;
    this.#timer = setInterval(() => void this.sweep(), SWEEP_MS);
    void this.sweep();
  }

  /** No more asks; an association asking now is aborted (its rows are asked again at the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    for (const a of this.#open) a.abort();
    for (const wake of [...this.#waiting.values()]) wake();
    await Promise.all([...this.#asking.values()]);
  }

  /** The node a destination names, when it asks for commitment. */
  node(destination: string): NodeConfig | undefined {
    const node = this.config.nodes[destination];
    return node?.storageCommitment ? node : undefined;
  }

  /**
   * After a batch's C-STOREs succeeded: the rows wait for commitment (recorded first), then the N-ACTION goes
   * on the batch's association. A failed N-ACTION leaves them to be asked again on a new association.
   */
  async request(
    destination: string,
    scu: ScuAssociation,
    stored: { row: ClaimedRow; status: number }[],
  ): Promise<void> {
    const node = this.node(destination)!;
    const uid = newTransactionUid();
    const now = Date.now();
    this.queue.markCommitting(
      stored.map((s) => ({ id: s.row.id, status: s.status })),
      uid,
      now + this.#timeoutMs(node, 1),
      now,
    );
    const refs = stored.map((s) => ({
      sopClassUid: s.row.sopClassUid,
      sopInstanceUid: s.row.sopInstanceUid,
    }));
    await this.#ask(destination, node, scu, uid, refs, stored.map((s) => s.row.id), 1);
  }

  async #ask(
    destination: string,
    node: NodeConfig,
    scu: ScuAssociation,
    uid: string,
    refs: { sopClassUid: string; sopInstanceUid: string }[],
    ids: number[],
    asks: number,
  ): Promise<boolean> {
    const transaction = hashUid(uid);
    let error = "";
    try {
      const status = await scu.requestCommitment(uid, refs);
      if (status === Status.Success || isWarning(status)) {
        this.log.info("storage commitment requested", {
          destination,
          transaction,
          instances: refs.length,
          asks,
        });
        this.onEvent({ type: "commitment", destination, outcome: "requested", count: refs.length });
        return true;
      }
      error = `storage commitment request answered ${statusHex(status)}`;
    } catch (err) {
      if (err instanceof NoContextAcceptedError) {
        this.#unsupported(destination, node, this.queue.committingRows(uid));
        return false;
      }
      error = `storage commitment request failed: ${(err as Error).message}`;
    }
    // Asked again after a backoff (the deadline set when they were asked is too far for a refusal).
    const waitMs = Math.min(
      this.#timeoutMs(node, asks),
      this.config.dimse.commitmentRetrySeconds * 1000 * 2 ** (asks - 1),
    );
    this.queue.commitmentDueAt(ids, Date.now() + waitMs, error);
    this.log.warn("storage commitment not requested; asking again later", {
      destination,
      transaction,
      instances: refs.length,
      retryInMs: waitMs,
      reason: error,
    });
    this.onEvent({ type: "commitment", destination, outcome: "refused", count: refs.length });
    return false;
  }

  /** Resolves once a report on `uid` arrived, the association closed, the agent stops, or after `ms`. */
  #report(uid: string, scu: ScuAssociation, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        clearInterval(watch);
        this.#waiting.delete(uid);
        resolve();
      };
      const timer = setTimeout(done, ms);
      // The node may close the association after its answer (and report on one of its own).
      const watch = setInterval(() => scu.isOpen || done(), 100);
      this.#waiting.set(uid, done);
    });
  }

  /**
   * The node does not offer Storage Commitment: asking again will not change that. The rows fail with 0x0122
   * (as a C-STORE of a SOP class it does not take): dead, unless queue.retryPermanent.
   */
  #unsupported(destination: string, node: NodeConfig, rows: CommittingRow[]): void {
    const reason =
      `${node.aet} accepted no Storage Commitment context (storageCommitment needs a node that ` +
      `is a Storage Commitment SCP)`;
    this.log.warn("destination does not offer Storage Commitment", { destination, instances: rows.length });
    for (const r of rows) this.#fail(r, Status.SopClassNotSupported, reason);
    this.onEvent({ type: "commitment", destination, outcome: "refused", count: rows.length });
  }

  #timeoutMs(node: NodeConfig, asks: number): number {
    return node.commitmentTimeoutSeconds * 1000 * Math.min(8, 2 ** (asks - 1));
  }

  /**
   * Rows whose report is overdue: asked again under a new Transaction UID, or failed after the last ask.
   * Each destination on its own: one whose node is slow or does not answer (an association that takes its
   * whole ARTIM timeout to fail, a report awaited on the association) delays neither the others' asks nor
   * the next sweeps, which skip it while it is being asked. Resolves when the asks this call began end.
   */
  sweep(now = Date.now()): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    const started: Promise<void>[] = [];
    try {
      for (const destination of this.queue.dueCommitmentDestinations(now)) {
        // Being asked already, or paused (its rows are asked once it is resumed).
        if (this.#asking.has(destination) || this.queue.isPaused(destination)) continue;
        const rows = this.queue.dueCommitments(now, MAX_DUE, destination);
        if (!rows.length) continue;
        const run = this.#again(destination, rows)
          .catch((err) => {
            this.log.error("asking again for storage commitment failed", {
              destination,
              reason: (err as Error).message,
            });
          })
          .finally(() => this.#asking.delete(destination));
        this.#asking.set(destination, run);
        started.push(run);
      }
    } catch (err) {
      this.log.error("asking again for storage commitment failed", { reason: (err as Error).message });
    }
    return Promise.all(started).then(() => {});
  }

  async #again(destination: string, rows: CommittingRow[]): Promise<void> {
    const node = this.node(destination);
    const q = this.config.queue;
    const ask: CommittingRow[] = [];
    for (const r of rows) {
      // No longer a node that commits (configuration changed), or asked enough: stored again.
      if (!node || r.commitAsks >= q.maxAttempts) {
        const reason = node
          ? `no storage commitment report after ${r.commitAsks} requests`
          : "the destination no longer asks for storage commitment";
        this.#fail(r, null, reason);
        continue;
      }
      ask.push(r);
    }
    if (!node || ask.length === 0 || this.#stopped) return;
    if (ask.some((r) => r.commitAsks > 0)) {
      this.onEvent({ type: "commitment", destination, outcome: "timeout", count: ask.length });
    }
    let scu: ScuAssociation | undefined;
    try {
      scu = await scuTo(this.config, node, undefined, this);
      // Stopped meanwhile: no association stop() could not abort (the rows are asked at the next start).
      if (this.#stopped) return;
      this.#open.add(scu);
      await scu.open({ commitmentRequest: true });
    } catch (err) {
      this.#open.delete(scu!);
      scu?.abort();
      if (err instanceof NoContextAcceptedError) return this.#unsupported(destination, node, ask);
      const asks = Math.max(1, ...ask.map((r) => r.commitAsks));
      const waitMs = Math.min(
        this.#timeoutMs(node, asks),
        this.config.dimse.commitmentRetrySeconds * 1000 * 2 ** (asks - 1),
      );
      this.queue.commitmentDueAt(ask.map((r) => r.id), Date.now() + waitMs, (err as Error).message);
      this.log.warn("cannot open an association to ask for storage commitment", {
        destination,
        instances: ask.length,
        retryInMs: waitMs,
        reason: (err as Error).message,
      });
      return;
    }
    try {
      for (let i = 0; i < ask.length && !this.#stopped; i += MAX_REFERENCES) {
        const chunk = ask.slice(i, i + MAX_REFERENCES);
        const uid = newTransactionUid();
        const asks = Math.max(...chunk.map((r) => r.commitAsks)) + 1;
        this.queue.markReasked(chunk.map((r) => r.id), uid, Date.now() + this.#timeoutMs(node, asks));
        const asked = await this.#ask(
          destination,
          node,
          scu,
          uid,
          chunk.map((r) => ({ sopClassUid: r.sopClassUid, sopInstanceUid: r.sopInstanceUid })),
          chunk.map((r) => r.id),
          asks,
        );
        if (asked && !this.#stopped) {
          await this.#report(uid, scu, Math.min(REPORT_WAIT_MS, this.#timeoutMs(node, asks)));
        }
      }
    } finally {
      this.#open.delete(scu);
      await scu.release().catch(() => {});
    }
  }

  /** A report on one of our requests (on the request's association or on one the node opened to us). */
  // deno-lint-ignore require-await
  async received(report: CommitmentReport, from: AssociationInfo): Promise<void> {
    const transaction = hashUid(report.transactionUid);
    this.#waiting.get(report.transactionUid)?.();
    const rows = this.queue.committingRows(report.transactionUid);
    if (rows.length === 0) {
      // Asked again since (a restart, an overdue report) or already reported: the newer request decides.
      this.log.info("storage commitment report for no open request ignored", {
        transaction,
        from: from.callingAet,
      });
      return;
    }
    const destination = rows[0].destination;
    const node = this.config.nodes[destination];
    if (!node || node.aet !== from.callingAet) {
      this.log.warn("storage commitment report from another AE than the one asked ignored", {
        transaction,
        from: from.callingAet,
        destination,
      });
      return;
    }
    const bySop = new Map(rows.map((r) => [r.sopInstanceUid, r]));
    const committed: number[] = [];
    const now = Date.now();
    const latenciesMs: number[] = [];
    for (const ref of report.committed) {
      const r = bySop.get(ref.sopInstanceUid);
      if (!r) continue;
      committed.push(r.id);
      latenciesMs.push(now - r.createdAt);
    }
    const done = this.queue.markCommitted(committed, report.transactionUid);
    let failed = 0;
    for (const ref of report.failed) {
      const r = bySop.get(ref.sopInstanceUid);
      if (!r) continue;
      failed++;
      this.#fail(r, ref.reason, `storage commitment failed, reason ${statusHex(ref.reason)}`);
      this.log.warn("instance not committed", {
        destination,
        transaction,
        sop: hashUid(ref.sopInstanceUid),
        reason: statusHex(ref.reason),
      });
    }
    this.log.info("storage commitment report", {
      destination,
      transaction,
      committed: done,
      failed,
      waiting: rows.length - done - failed,
    });
    if (done) {
      this.onEvent({ type: "commitment", destination, outcome: "committed", count: done, latenciesMs });
    }
    if (failed) this.onEvent({ type: "commitment", destination, outcome: "failed", count: failed });
  }

  /** Not committed: stored again after the queue's backoff, or dead (permanent reason, or out of attempts). */
  #fail(row: CommittingRow, reason: number | null, error: string): void {
    const q = this.config.queue;
    const permanent = reason !== null && classify(reason) === "permanent" && !q.retryPermanent;
    const dead = permanent || row.attempts >= q.maxAttempts;
    const next = Date.now() +
      backoffMs(row.attempts, q.backoffBaseSeconds * 1000, q.backoffCapSeconds * 1000);
    this.queue.markCommitFailed(row.id, { status: reason, error, dead, next });
  }
}
