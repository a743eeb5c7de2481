/**
 * Workers that drain the forward queue: per destination, up to `queue.concurrency` associations at
 * once, each carrying up to `queue.batchSize` objects in their own transfer syntax. A row is done
 * only when the destination answered Success (or a warning); failures back off with full jitter;
 * permanent failures and rows out of attempts go to the dead letter.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import type { AgentConfig } from "../config/schema.ts";
import { isWarning, Status } from "../dimse/handlers.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import { NoContextAcceptedError } from "../dimse/scu_errors.ts";
import { scuTo } from "../nodes/connect.ts";
import { type Archive, archived } from "../archive/archive.ts";
import { backoffMs, classify } from "../queue/policy.ts";
import type { Queue } from "../queue/queue.ts";
import { claimedObject, type ClaimedRow, type FailedOutcome } from "../queue/rows.ts";
import type { ComputedHash } from "../index/instances.ts";
import type { Session } from "@conduit/shared/tunnel";
import { parseRemoteDestination, remoteDestination, stageDestination, stageRoute } from "../queue/keys.ts";
import { type Contention, HeldAssociation } from "./held_association.ts";
import type { DeidStage } from "./deid_stage.ts";
import { DoneBatch } from "./done_batch.ts";
import type { CommitmentRequests } from "./commitment_requests.ts";
import { loadPart } from "../lazy_part.ts";

/** What the forwarder reports (metrics hook). */
export type ForwardEvent =
  | { type: "attempt"; destination: string; status: number | null; outcome: "done" | "failed" | "dead" }
  | { type: "delivered"; destination: string; latencyMs: number }
  | { type: "deid"; outcome: "done" | "held" | "failed" };

/** Stage rows a worker takes at once (each is de-identified in turn). */
const STAGE_BATCH = 16;
/** How often the files of copies that went everywhere are removed. */
const SWEEP_MS = 5_000;
/**
 * On stop, how long the workers may take to finish the C-STORE on the wire (or the association being
 * opened) before their associations are aborted: a destination that does not answer would otherwise
 * hold the stop for its whole time limit (`dimse.artimTimeoutSeconds`, `dimse.idleTimeoutSeconds`: 30 s,
 * 300 s), past a supervisor's patience (systemd's TimeoutStopSec=30 kills the agent with SIGKILL).
 */
export const STOP_GRACE_MS = 5_000;

/** Logged when the workers of a destination that names no configured node start: its rows wait. */
export const UNCONFIGURED =
  "rows wait for a node no longer in the configuration: they are sent once a reload or a restart brings it back";

class Wakeup {
  #waiters = new Set<() => void>();
  /** Resolves after `ms`, or sooner on wake(). */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }
  wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

export class Forwarder {
  #running = false;
  /** Set once stop() aborted the associations: what they were sending goes back to pending. */
  #aborted = false;
  #batches = 0;
  /** Every worker's association to a node (aborted when a stop cannot wait for them). */
  readonly #held = new Set<HeldAssociation>();
  #loops: Promise<void>[] = [];
  #wakeups = new Map<string, Wakeup>();
  /** Per destination, shared by its workers' held associations. */
  #contention = new Map<string, Contention>();
  #pruneTimer: ReturnType<typeof setInterval> | undefined;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** Acknowledged rows, marked done in groups (done_batch.ts). */
  readonly #done: DoneBatch;

  constructor(
    private readonly config: AgentConfig,
    private readonly queue: Queue,
    private readonly archive: Archive,
    private readonly log: Logger,
    private readonly onEvent: (e: ForwardEvent) => void = () => {},
    /** The live tunnel session, for destinations at other sites. */
    private readonly tunnel: () => Session | undefined = () => undefined,
    /** The de-identification stage, for `deid:<route>` rows (routes and transfers that de-identify). */
    private readonly stage?: DeidStage,
    /**
     * Storage Commitment requests to nodes that ask for it (`storageCommitment`); set later when a reload
     * adds the first such node (its workers then start anew and use it).
     */
    public commitments?: CommitmentRequests,
  ) {
    this.#done = new DoneBatch(
      queue,
      (err, rows) =>
        log.error("recording deliveries failed; they are sent again at the next start", {
          rows,
          reason: (err as Error).name,
        }),
    );
  }

  /**
   * Every configured node (objects the hub sends for a node are queued without a route), and the
   * other sites' nodes that routes send to (`@site/node`).
   */
  destinations(): string[] {
    const names = new Set<string>(Object.keys(this.config.nodes));
    for (const r of this.config.routes) {
      if (r.deid) names.add(stageDestination(r.name));
      for (const t of r.to) {
        if ("site" in t) names.add(remoteDestination(t.site, t.node));
        else names.add(t.node);
      }
    }
    return [...names];
  }

  /**
   * Before anything is served: removes the de-identified copies a crash left unrecorded (their rows are
   * redone once the workers start).
   */
  async prepare(): Promise<void> {
    const stray = await this.stage?.reconcile();
    if (stray) this.log.info("removed de-identified copies a crash left unrecorded", { count: stray });
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#prune();
    this.#pruneTimer = setInterval(() => this.#prune(), this.#prunePeriod());
    if (this.stage) this.#sweepTimer = setInterval(() => void this.#sweep(), SWEEP_MS);
    const recovered = this.queue.recover();
    if (recovered) this.log.info("rows in flight at the last stop are due again", { count: recovered });
    // Configured destinations, and any other one rows still wait for (transfers to other sites).
    for (const destination of new Set([...this.destinations(), ...this.queue.waitingDestinations()])) {
      this.ensure(destination);
    }
  }

  /** True while a batch of rows is being sent or de-identified. */
  get busy(): boolean {
    return this.#batches > 0;
  }

  /** The configured destinations and those started for transfers (which no route names). */
  knownDestinations(): string[] {
    return [...new Set([...this.destinations(), ...this.#wakeups.keys()])];
  }

  /**
   * False for a node destination with no node of that name in the configuration in force (its rows wait
   * for the node to come back); true for configured nodes, other sites' destinations and stage rows.
   */
  configured(destination: string): boolean {
    return destination in this.config.nodes || parseRemoteDestination(destination) !== undefined ||
      stageRoute(destination) !== undefined;
  }

  /** Starts workers for a destination that has none yet (a transfer to a site no route names). */
  ensure(destination: string): void {
    if (!this.#running || this.#wakeups.has(destination)) return;
    this.#wakeups.set(destination, new Wakeup());
    for (let slot = 0; slot < this.config.queue.concurrency; slot++) {
      this.#loops.push(this.#loop(destination, slot));
    }
  }

  /** New rows for a destination (or for all): start now rather than at the next poll. */
  wake(destination?: string): void {
    if (destination) this.#wakeups.get(destination)?.wake();
    else for (const w of this.#wakeups.values()) w.wake();
  }

  /**
   * Done rows past queue.keepDoneDays go (retention of files needs their rows only until then), and dead rows
   * past queue.keepDeadDays when it is set (their files then fall to retention).
   */
  #prune(): void {
    try {
      const n = this.queue.pruneDone(Date.now() - this.config.queue.keepDoneDays * 86_400_000);
      if (n) this.log.info("pruned delivered queue rows", { count: n });
    } catch (err) {
      this.log.error("pruning the queue failed", { reason: (err as Error).name });
    }
    const keepDeadDays = this.config.queue.keepDeadDays;
    if (keepDeadDays === undefined) return;
    try {
      const n = this.queue.discardDead({ deadBefore: Date.now() - keepDeadDays * 86_400_000 }, "age");
      if (n) this.log.info("discarded dead-letter rows past queue.keepDeadDays", { count: n, keepDeadDays });
    } catch (err) {
      this.log.error("discarding old dead-letter rows failed", { reason: (err as Error).name });
    }
  }

  /** Hourly; with queue.keepDeadDays under two hours, half of it (at least every 0.5 s). */
  #prunePeriod(): number {
    const dead = this.config.queue.keepDeadDays;
    return dead === undefined ? 3_600_000 : Math.max(500, Math.min(3_600_000, dead * 43_200_000));
  }

  async #sweep(): Promise<void> {
    try {
      await this.stage?.sweep();
    } catch (err) {
      this.log.error("removing forwarded de-identified copies failed", { reason: (err as Error).name });
    }
  }

  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    clearInterval(this.#pruneTimer);
    clearInterval(this.#sweepTimer);
    this.#running = false;
    this.wake();
    const loops = Promise.allSettled(this.#loops);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = await Promise.race([
      loops.then(() => false),
      new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(true), graceMs)),
    ]);
    clearTimeout(timer);
    if (late) {
      // A destination that does not answer: its rows go back to pending (sent again at the next start).
      this.#aborted = true;
      this.log.warn("stopping: associations still waiting for a destination aborted", {
        waitedMs: graceMs,
      });
      for (const held of this.#held) held.abort();
      await loops;
    }
    this.#loops = [];
    this.#done.flush();
  }

  /**
   * The configuration changed under these destinations (a reload on SIGHUP: a node added, removed or given
   * another address): their workers finish the batch they are sending, release their associations and
   * give way to new ones, which read the node in force (none: its rows wait). Destinations the routes in
   * force name get workers if they have none.
   */
  reconfigure(changed: string[]): void {
    if (!this.#running) return;
    for (const destination of changed) {
      const wakeup = this.#wakeups.get(destination);
      if (!wakeup) continue;
      this.#wakeups.delete(destination);
      // New workers share nothing with the old ones (an idle association to the old address).
      this.#contention.delete(destination);
      wakeup.wake();
      this.ensure(destination);
    }
    for (const destination of this.destinations()) this.ensure(destination);
  }

  async #loop(destination: string, slot: number): Promise<void> {
    const node = this.config.nodes[destination];
    const remote = parseRemoteDestination(destination);
    const wakeup = this.#wakeups.get(destination)!;
    const log = this.log.child({ destination, slot });
    if (!this.#contention.has(destination)) this.#contention.set(destination, { opening: 0 });
    const commits = node?.storageCommitment ? this.commitments : undefined;
    const held = node && !stageRoute(destination)
      ? new HeldAssociation(
        () => scuTo(this.config, node, undefined, commits),
        this.#contention.get(destination),
        undefined,
        undefined,
        commits !== undefined,
      )
      : undefined;
    if (held) this.#held.add(held);
    try {
      // Until stop(), or until reconfigure() gives the destination new workers (another wakeup).
      const current = () => this.#running && this.#wakeups.get(destination) === wakeup;
      if (!node && !remote && !stageRoute(destination) && slot === 0) log.warn(UNCONFIGURED);
      await this.#work(destination, remote, wakeup, held, log, current);
    } finally {
      await held?.release();
      if (held) this.#held.delete(held);
    }
  }

  async #work(
    destination: string,
    remote: { site: string; node?: string } | undefined,
    wakeup: Wakeup,
    held: HeldAssociation | undefined,
    log: Logger,
    current: () => boolean,
  ): Promise<void> {
    const staged = stageRoute(destination) !== undefined;
    // No node of that name in the configuration (removed from it, or rows queued before a restart without
    // it): its rows are not claimed and keep their state until a reload or a restart brings the node back.
    const unconfigured = !remote && !staged && !held;
    while (current()) {
      try {
        const session = remote ? this.tunnel() : undefined;
        if (
          unconfigured || this.queue.isPaused(destination) || (remote && (!session || session.isClosed))
        ) {
          await wakeup.wait(unconfigured ? 60_000 : 1000);
          continue;
        }
        const rows = this.queue.claim(destination, staged ? STAGE_BATCH : this.config.queue.batchSize);
        if (rows.length === 0) {
          const next = this.queue.nextDue();
          const wait = next === undefined ? 1000 : Math.min(1000, Math.max(10, next - Date.now()));
          await wakeup.wait(wait);
          continue;
        }
        this.#batches++;
        try {
          if (staged) await this.#deidentify(destination, rows);
          else if (remote) await this.#sendRemote(destination, remote, session!, rows, log);
          else if (held) await this.#send(destination, held, rows, log);
        } finally {
          this.#batches--;
        }
      } catch (err) {
        log.error("forward worker error", { reason: (err as Error).message });
        await wakeup.wait(1000);
      }
    }
  }

  async #send(destination: string, held: HeldAssociation, rows: ClaimedRow[], log: Logger): Promise<void> {
    let scu: ScuAssociation;
    try {
      scu = await held.for(rows);
    } catch (err) {
      if (this.#aborted) {
        // Aborted by stop(): not the destination's failure.
        this.queue.release(rows.map((row) => row.id));
        return;
      }
      if (err instanceof NoContextAcceptedError) {
        // Reachable, but it takes none of these SOP classes in these syntaxes: that will not change
        // by itself (0x0122, permanent unless configured otherwise).
        log.warn("destination accepts none of the SOP classes offered", { rows: rows.length });
        this.#failedAll(rows, Status.SopClassNotSupported, (err as Error).message, destination);
        return;
      }
      // The destination is down or refuses us: every row waits, each by its own backoff, all recorded in
      // one synced write (one flush per attempt, not one per row, while the node is down).
      log.warn("cannot open an association", { reason: (err as Error).message, rows: rows.length });
      this.#failedAll(rows, null, (err as Error).message, destination);
      return;
    }
    // Up to the window the node granted (1 without one) C-STOREs are outstanding at once; they go out
    // one after the other, in the rows' order, and each row is settled by its own response.
    let next = 0;
    let lost = false;
    // At a node that commits, stored rows wait for its Storage Commitment report instead of being done.
    const commits = this.commitments?.node(destination) ? this.commitments : undefined;
    const stored: { row: ClaimedRow; status: number }[] = [];
    // C-STOREs that failed, recorded together when the batch ends (one synced write, not one per row).
    const failures: Failure[] = [];
    const sendNext = async (): Promise<void> => {
      while (next < rows.length && !lost) {
        if (!this.#running || this.queue.isPaused(destination)) return;
        const row = rows[next++];
        if (this.queue.canceledSinceClaim(row)) {
          this.queue.release(row.id); // dead, canceled
          continue;
        }
        let status: number | null;
        let error = "";
        try {
          status = await scu.store(archived(this.archive, claimedObject(row)));
        } catch (err) {
          if (this.#aborted) {
            // Aborted by stop() while waiting for the response: sent again at the next start.
            this.queue.release(row.id);
            lost = true;
            return;
          }
          status = null;
          error = (err as Error).message;
        }
        if (status === Status.Success || (status !== null && isWarning(status))) {
          this.onEvent({ type: "attempt", destination, status, outcome: "done" });
          if (commits) {
            stored.push({ row, status });
            continue;
          }
          this.#done.add(row.id, status);
          this.onEvent({ type: "delivered", destination, latencyMs: Date.now() - row.createdAt });
          continue;
        }
        if (status === Status.SopClassNotSupported && !error) {
          error = "the destination accepted no context for this SOP class and syntax";
        }
        failures.push(
          this.#failure(row, status, error || `status 0x${status!.toString(16).padStart(4, "0")}`),
        );
        log.warn("forward attempt failed", {
          sop: hashUid(row.sopInstanceUid),
          status,
          reason: error || undefined,
        });
        if (status === null && !lost) {
          // The association is gone: rows not yet sent go back as they were.
          lost = true;
          held.drop();
        }
      }
    };
    try {
      try {
        await Promise.all(Array.from({ length: Math.min(scu.window, rows.length) }, sendNext));
      } finally {
        this.#record(failures, destination);
      }
      this.queue.release(rows.slice(next).map((rest) => rest.id));
      if (commits && stored.length) await commits.request(destination, scu, stored);
    } finally {
      held.idle();
    }
  }

  async #sendRemote(
    destination: string,
    target: { site: string; node?: string },
    session: Session,
    rows: ClaimedRow[],
    log: Logger,
  ): Promise<void> {
    // Loaded with the first remote destination: an agent without a hub does without the tunnel code.
    const { sendRemote } = await loadPart("forward/remote");
    // Hashes the sends computed (objects not yet backfilled), recorded in one transaction after the batch.
    const hashed: ComputedHash[] = [];
    // Relays that failed, recorded together when the batch ends (one synced write, not one per row).
    const failures: Failure[] = [];
    let unsent: ClaimedRow[];
    try {
      unsent = await sendRemote(
        session,
        target,
        rows,
        this.archive,
        (r) => {
          if (r.ok) {
            this.#done.add(r.row.id);
            this.onEvent({ type: "attempt", destination, status: Status.Success, outcome: "done" });
            this.onEvent({ type: "delivered", destination, latencyMs: Date.now() - r.row.createdAt });
            return;
          }
          log.warn("relay attempt failed", { sop: hashUid(r.row.sopInstanceUid), reason: r.error });
          failures.push(this.#failure(r.row, r.status ?? null, r.error, r.permanent));
        },
        (row) => !this.#running || this.queue.isPaused(destination) || this.queue.canceledSinceClaim(row),
        (object, sha256) => hashed.push({ sopInstanceUid: object.sopInstanceUid, path: object.key, sha256 }),
      );
    } finally {
      this.#record(failures, destination);
    }
    try {
      this.queue.recordHashes(hashed);
    } catch (err) {
      log.warn("recording hashes computed while sending failed; the backfill computes them again", {
        reason: (err as Error).name,
      });
    }
    this.queue.release(unsent.map((row) => row.id));
  }

  /**
   * De-identifies claimed stage rows one by one; each copy made is queued for the route's destinations. The
   * rows that failed or were held back are recorded together when the batch ends (one synced write).
   */
  async #deidentify(destination: string, rows: ClaimedRow[]): Promise<void> {
    const failures: Failure[] = [];
    // Held back by the burned-in text policy: dead at once, and not a failed attempt for the metrics.
    const held: Failure[] = [];
    try {
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        if (!this.#running || this.queue.isPaused(destination) || !this.stage) {
          this.queue.release(rows.slice(i).map((rest) => rest.id));
          return;
        }
        const r = await this.stage.run(row);
        if (r.outcome === "done") {
          for (const d of r.destinations) {
            this.ensure(d);
            this.wake(d);
          }
        } else if (r.outcome === "held") {
          held.push({ id: row.id, outcome: { status: null, error: r.reason, dead: true, next: Date.now() } });
        } else if (r.outcome === "failed") {
          failures.push(this.#failure(row, null, r.reason, r.permanent));
        }
        if (r.outcome !== "stale") this.onEvent({ type: "deid", outcome: r.outcome });
      }
    } finally {
      this.#record(failures, destination, held);
    }
  }

  /**
   * Records one failure for every row in `rows` (an association that did not open fails its whole batch):
   * each row by the policy's outcome for its own attempts, all in one synced transaction.
   */
  #failedAll(
    rows: ClaimedRow[],
    status: number | null,
    error: string,
    destination: string,
    permanentFailure = false,
  ): void {
    this.#record(rows.map((row) => this.#failure(row, status, error, permanentFailure)), destination);
  }

  /** A failed attempt of `row` as the policy decides it: failed and due again after its backoff, or dead. */
  #failure(row: ClaimedRow, status: number | null, error: string, permanentFailure = false): Failure {
    const q = this.config.queue;
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
  #record(failures: Failure[], destination: string, unattempted: Failure[] = []): void {
    if (failures.length + unattempted.length === 0) return;
    this.queue.markFailedMany([...failures, ...unattempted]);
    for (const f of failures) {
      const outcome = f.outcome.dead ? "dead" : "failed";
      this.onEvent({ type: "attempt", destination, status: f.outcome.status, outcome });
    }
  }
}

/** One row's failed attempt, as Queue.markFailedMany records it. */
type Failure = { id: number; outcome: FailedOutcome };
