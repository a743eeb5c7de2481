/**
 * Workers that drain the forward queue: per destination, up to `queue.concurrency` associations at
 * once, each carrying up to `queue.batchSize` objects in their own transfer syntax. A row is done
 * only when the destination answered Success (or a warning); failures back off with full jitter;
 * permanent failures and rows out of attempts go to the dead letter.
 *
 * This file is the workers' life (start, the loop of each, reconfigure, stop); what a worker does with a
 * batch it claimed reads in this order: to_node.ts (C-STOREs to a configured node), to_site.ts (relayed
 * to another site through the hub), to_stage.ts (de-identified for a route), batch.ts (what a batch reads
 * of the forwarder, and how its failed attempts are recorded); then wakeup.ts (how a worker waits) and
 * upkeep.ts (pruning rows, sweeping copies).
 */
import type { Logger } from "@conduit/shared/log";
import type { AgentConfig } from "../config/schema.ts";
import { scuTo } from "../nodes/connect.ts";
import type { Archive } from "../archive/archive.ts";
import type { Queue } from "../queue/queue.ts";
import type { Session } from "@conduit/shared/tunnel";
import { parseRemoteDestination, remoteDestination, stageDestination, stageRoute } from "../queue/keys.ts";
import { type Contention, HeldAssociation } from "./held_association.ts";
import type { DeidStage } from "./deid_stage.ts";
import { DoneBatch } from "./done_batch.ts";
import type { CommitmentRequests } from "./commitment_requests.ts";
import { Wakeup } from "./wakeup.ts";
import type { BatchContext } from "./batch.ts";
import { sendToNode } from "./to_node.ts";
import { sendToSite } from "./to_site.ts";
import { deidentify } from "./to_stage.ts";
import { prune, prunePeriod, sweep } from "./upkeep.ts";

/** What the forwarder reports (metrics hook). */
export type ForwardEvent =
  | { type: "attempt"; destination: string; status: number | null; outcome: "done" | "failed" | "dead" }
  | { type: "delivered"; destination: string; latencyMs: number }
  | { type: "deid"; outcome: "done" | "held" | "failed" };

/** Stage rows a worker takes at once (each is de-identified in turn). */
const STAGE_BATCH = 16;
/**
 * On stop, how long the workers may take to finish the C-STORE on the wire (or the association being
 * opened) before their associations are aborted: a destination that does not answer would otherwise
 * hold the stop for its whole time limit (`dimse.artimTimeoutSeconds`, `dimse.idleTimeoutSeconds`: 30 s,
 * 300 s), past a supervisor's patience (systemd's TimeoutStopSec=30 kills the agent with SIGKILL).
 * The agent passes `queue.stopGraceSeconds` (5 s by default).
 */
export const STOP_GRACE_MS = 5_000;

/** Logged when the workers of a destination that names no configured node start: its rows wait. */
export const UNCONFIGURED =
  "rows wait for a node no longer in the configuration: they are sent once a reload or a restart brings it back";

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
  /** What the sending of a batch reads of this forwarder (batch.ts). */
  readonly #batch: BatchContext;
  /**
   * Destinations with rows waiting after attempts that got no answer (batch.ts `unreached`): the first object
   * one takes makes them due at once (`reached`). Until 2026-12-07 a node back up (or a site reconnected)
   * got them one by one as each row's backoff ended, for up to `queue.backoffCapSeconds` (QA 2026-12-07:
   * a PACS accepting again while a transfer read "Connection refused" for over a minute).
   */
  readonly #unreached = new Set<string>();

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
    this.#batch = {
      config,
      queue,
      archive,
      onEvent,
      done: this.#done,
      stage,
      running: () => this.#running,
      aborted: () => this.#aborted,
      commitments: () => this.commitments,
      ensure: (destination) => this.ensure(destination),
      wake: (destination) => this.wake(destination),
      reached: (destination) => {
        if (!this.#unreached.delete(destination)) return;
        try {
          this.#dueNow(destination);
        } catch (err) {
          // The rows keep their backoff: they go when it ends.
          log.warn("could not make a destination's waiting rows due now", { reason: (err as Error).message });
        }
      },
      unreached: (destination) => void this.#unreached.add(destination),
    };
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
    prune(this.config, this.queue, this.log);
    this.#pruneTimer = setInterval(() => prune(this.config, this.queue, this.log), prunePeriod(this.config));
    if (this.stage) {
      this.#sweepTimer = setInterval(
        () => void sweep(this.stage, this.log),
        this.config.queue.copySweepSeconds * 1000,
      );
    }
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

  /**
   * The hub says `site` connected: the rows for its destinations whose last attempt got no answer (it was not
   * connected) are due now, and their workers woken (FEATURE_SITE_ONLINE). Returns how many rows.
   */
  siteOnline(site: string): number {
    let due = 0;
    for (const destination of this.knownDestinations()) {
      if (parseRemoteDestination(destination)?.site !== site) continue;
      this.#unreached.delete(destination);
      due += this.#dueNow(destination);
    }
    return due;
  }

  /** A destination's rows that failed unanswered are due now, its workers woken if there are any; how many. */
  #dueNow(destination: string): number {
    const n = this.queue.dueNow(destination);
    if (n > 0) this.wake(destination);
    return n;
  }

  /** New rows for a destination (or for all): start now rather than at the next poll. */
  wake(destination?: string): void {
    if (destination) this.#wakeups.get(destination)?.wake();
    else for (const w of this.#wakeups.values()) w.wake();
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
          const next = this.queue.nextDue(destination);
          const wait = next === undefined ? 1000 : Math.min(1000, Math.max(10, next - Date.now()));
          await wakeup.wait(wait);
          continue;
        }
        this.#batches++;
        try {
          if (staged) await deidentify(this.#batch, destination, rows);
          else if (remote) await sendToSite(this.#batch, destination, remote, session!, rows, log);
          else if (held) await sendToNode(this.#batch, destination, held, rows, log);
        } finally {
          this.#batches--;
        }
      } catch (err) {
        log.error("forward worker error", { reason: (err as Error).message });
        await wakeup.wait(1000);
      }
    }
  }
}
