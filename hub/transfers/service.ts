/**
 * Transfer jobs at the hub: each study a task, handed to the source agent (`send`), which fetches it
 * from its node if asked and queues its objects for the destination site; the hub follows each task
 * through the source's queue counts (`progress`) until every object is acknowledged by the
 * destination. State lives in the hub's database, and the agents' queues are durable, so a job goes
 * on after a restart of the hub or of either agent.
 */
import { randomBytes } from "node:crypto";
import { and, asc, count, desc, eq, inArray, isNull, like, ne, notInArray, or, sql } from "drizzle-orm";
import type { Logger } from "@conduit/shared/log";
import type { HubDb } from "../db/db.ts";
import {
  type TransferRow,
  transfers,
  transferTaskCounts,
  type TransferTaskRow,
  transferTasks,
} from "../db/schema.ts";
import {
  type DetailOf,
  FEATURE_COMMITMENT_STATE,
  FEATURE_DELIVERY,
  FEATURE_DELIVERY_NOT_STORED,
  FEATURE_OBJECTS_AFTER,
  FEATURE_SERIES_TRANSFER,
  FEATURE_TRANSFER_DEID_CUSTOM,
  OBJECTS_PAGE,
  type QueueRowView,
  versionWithout,
} from "@conduit/shared/tunnel";
import type { Sessions } from "../tunnel/sessions.ts";
import { SiteRequestError } from "../tunnel/errors.ts";
import { entry } from "../auth/audit.ts";
import { isOpen, nextOpening, type Windows } from "./window.ts";
import type { Throttle } from "./bandwidth.ts";
import { checkSchedule, Scheduler, windowColumns, windowOf } from "./schedule.ts";
import { deidProblem, deidView, needsCustomFeature, sendDeid, storedDeid, withoutTable } from "./deid.ts";
import { type Endpoint, TERMINAL, type TransferSummary, type TransferView } from "./view.ts";
import { handOverFailure, taskProgress } from "./progress.ts";
import { TransferReads } from "./reads.ts";
import { type AtNode, MAX_NODE_CHECK, NODE_ASK_MS, NodeDelivery } from "./at_node.ts";
import {
  type CreateTransfer,
  seriesOf,
  taskId,
  tasksOf,
  TransferError,
  TransferNotFoundError,
} from "./request.ts";
import { atomically } from "../db/atomic.ts";
import { earlierJob, type Keyed, keyed } from "./idempotency.ts";
import { reopenAfterReplay } from "./replayed.ts";
import { dbFailureReason } from "../db/errors.ts";
import type { TransferLeases } from "../cluster/transfer_lease.ts";

export type { Endpoint, TransferView };
export {
  type CreateTransfer,
  MAX_SERIES,
  MAX_STUDIES,
  seriesOf,
  TransferError,
  TransferNotFoundError,
} from "./request.ts";

const MAX_SEND_ATTEMPTS = 5;
/**
 * How long a task waits after its `attempts`-th failed hand-over before the next: 5 s, then three times
 * longer each time (15 s, 45 s, 2 min 15 s), so that a source's node restarting or a link down for a few
 * minutes does not fail the task within seconds. Counted from the task's `updatedAt`, which the failure set.
 */
export function handOverDelayMs(attempts: number): number {
  return attempts > 0 ? 5000 * 3 ** (Math.min(attempts, MAX_SEND_ATTEMPTS) - 1) : 0;
}
/** Why a source whose agent is older than custom profiles and Clinical Trial attributes cannot take them. */
export function customUnsupported(site: string, agentVersion?: string): string {
  return `the agent of ${site} does not take a transfer's custom de-identification profile or Clinical Trial ` +
    `attributes (its version: ${
      versionWithout(agentVersion, FEATURE_TRANSFER_DEID_CUSTOM)
    }): upgrade it, or transfer without them`;
}

/** Why a task whose source found nothing failed: where it looked, and what to check. */
function nothingFound(t: TransferRow, task: TransferTaskRow): string {
  const what = task.series ? "the series named of this study" : "this study";
  const where = t.sourceNode ? `at its node ${t.sourceNode}` : "in its archive";
  return `${t.sourceSite} found no object of ${what} ${where}: check the UID, or transfer it from where it is`;
}

/** How long the source may take to hand a study over (its retrieve from its node included). */
export const SEND_DEADLINE_MS = 6 * 3600 * 1000;
/** A pending task's note while its source retrieves the study from its node. */
const RETRIEVING = "the source is retrieving the study from its node ";
/** A waiting task's last error while its source is offline. */
const OFFLINE = "waiting for the source site ";
const offline = (site: string) => `${OFFLINE}${site} to connect (it is offline)`;
/** A task canceled at the hub whose source still has to be told (it was offline, or being handed the study). */
const CANCELING = "canceling";
const CANCEL_WAITING = "canceled at the hub; the source is told when it is back online";
const CANCEL_FINISHING = "canceled; ";

const id = () => randomBytes(8).toString("hex");

/** The states of a task a retry sets going again. */
const RETRIED = ["failure", "warning", "canceled"];
/** The states of a task a pass of the orchestrator hands over (pending) or follows at its source. */
const ACTIVE_TASK = ["pending", "queued", "in_progress"];

/**
 * A request the source's agent cannot take, as its hello says (a series transfer asked of one from before
 * them, a custom profile of one from before those): the task fails at once, with the reason, which names the
 * site already.
 */
class SourceUnableError extends Error {
  override name = "SourceUnableError";
}

/**
 * What an action (cancel, retry, schedule) answers: the job with every task as get() gives it, or, for
 * `tasks` false, the job without them as summary() gives it (a job of 5 000 studies in a few hundred bytes).
 */
export type Answer<T extends boolean> = T extends false ? TransferSummary : TransferView;

export class TransferService extends TransferReads {
  #timer?: ReturnType<typeof setInterval>;
  #busy = false;
  readonly #sending = new Set<string>();
  /** Tasks reopened after a replay, with the state they had settled in (see #finished). */
  readonly #reopened = new Map<string, string>();
  readonly #schedule: Scheduler;
  /** Tasks' objects at their destination nodes (at_node.ts). */
  readonly #atNode: NodeDelivery;

  constructor(
    db: HubDb,
    private readonly sessions: Sessions,
    private readonly siteExists: (site: string) => Promise<boolean>,
    private readonly log: Logger,
  ) {
    super(db);
    this.#schedule = new Scheduler(db, sessions);
    this.#atNode = new NodeDelivery(sessions, () => this.nodeCheckPage);
  }

  /** With several hubs on one database: which jobs this hub drives (hub/cluster/transfer_lease.ts). */
  leases?: TransferLeases;

  /**
   * A task's objects listed at its source (and checked at the destination's node) a page at a time, of a
   * source that pages (FEATURE_OBJECTS_AFTER): OBJECTS_PAGE. Tests set fewer.
   */
  nodeCheckPage = OBJECTS_PAGE;

  /**
   * Called each time this hub records a task reaching a final state (success, warning, failure, canceled):
   * the hub's metrics. A task retried and finished again is counted again.
   */
  onTaskFinished?: (outcome: string) => void;

  #finished(from: string, to: string | undefined, taskId?: string): void {
    if (!to || !TERMINAL.has(to) || TERMINAL.has(from)) return;
    // A task reopened after a replay (replayed.ts) that settles as it was is no new finish.
    const before = taskId === undefined ? undefined : this.#reopened.get(taskId);
    if (taskId !== undefined) this.#reopened.delete(taskId);
    if (before !== to) this.onTaskFinished?.(to);
  }

  /**
   * A site's dead-letter rows were replayed: the failed jobs they may concern are followed again (replayed.ts)
   * and settle as their objects now are. Returns how many tasks.
   */
  async reopenAfterReplay(site: string): Promise<number> {
    const tasks = await reopenAfterReplay(this.db, site);
    for (const t of tasks) this.#reopened.set(t.id, t.status);
    if (tasks.length) void this.tick();
    return tasks.length;
  }

  /**
   * Every task of every job by state, as the database has them (read at each scrape of the metrics): the
   * counts its triggers keep (`transfer_task_counts`), a few rows whatever the history; states at 0 left out.
   */
  async taskCounts(): Promise<Record<string, number>> {
    const rows = await this.db.select().from(transferTaskCounts).where(ne(transferTaskCounts.count, 0));
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  /** What an object relayed from a site to another (under a queue route) waits on (see Scheduler.limiterFor). */
  limiterFor(fromSite: string, route: string | undefined, toSite?: string): Promise<Throttle | undefined> {
    return this.#schedule.limiterFor(fromSite, route, toSite);
  }

  /** The downlink cap alone of a relay into `toSite` (see Scheduler.downlinkFor). */
  downlinkFor(fromSite: string, route: string | undefined, toSite: string): Promise<Throttle | undefined> {
    return this.#schedule.downlinkFor(fromSite, route, toSite);
  }

  /** A site's uplink or downlink cap changed: read them again for the next object relayed. */
  forgetSite(site: string): void {
    this.#schedule.forgetSite(site);
  }

  /** The sites a transfer's relay route goes from and to (see Scheduler.routeEnds). */
  routeEnds(route: string): Promise<{ source: string; destination: string } | undefined> {
    return this.#schedule.routeEnds(route);
  }

  start(intervalMs = 1000): void {
    this.#timer ??= setInterval(() => void this.tick(), intervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Throws a TransferError saying what is wrong with a request's own fields (its de-identification, its
   * window and cap), before any site is asked: a bad window is said as such, even to an offline site.
   */
  checkRequest(input: Pick<CreateTransfer, "deid" | "window" | "bandwidthMbps">): void {
    const deidIssue = input.deid && deidProblem(input.deid);
    if (deidIssue) throw new TransferError(deidIssue);
    try {
      checkSchedule(input);
    } catch (err) {
      throw new TransferError((err as Error).message);
    }
  }

  /**
   * Throws a TransferError when a job from `source` to `destination` could not be made: a site not
   * enrolled, the same place at both ends, or a node its site (online to say) does not have. A batch
   * transfer checks so before it searches its rows.
   */
  async checkEndpoints(source: Endpoint, destination: Endpoint): Promise<void> {
    for (const e of [source, destination]) {
      if (!(await this.siteExists(e.site))) throw new TransferError(`no enrolled site named ${e.site}`);
    }
    if (source.site === destination.site && source.node === destination.node) {
      throw new TransferError("the source and the destination are the same");
    }
    for (const e of [source, destination]) if (e.node) await this.#checkNode(e.site, e.node);
  }

  /**
   * Makes a job. With `idempotencyKey`, a create with the same key by the same `caller` answers the job
   * the first one made, even while both run at once (idempotency.ts). `caller` names one credential (an API
   * token by its id: two tokens may share a name, and `createdBy`), `createdBy` by default.
   */
  async create(
    input: CreateTransfer,
    createdBy: string,
    idempotencyKey?: string,
    caller = createdBy,
  ): Promise<{ id: string }> {
    const key = idempotencyKey === undefined ? undefined : await keyed(caller, idempotencyKey, input);
    const earlier = key && await earlierJob(this.db, key);
    if (earlier) return earlier;
    this.checkRequest(input);
    const tasks = tasksOf(input);
    await this.checkEndpoints(input.source, input.destination);
    const transferId = id();
    try {
      await this.#insert(transferId, input, tasks, createdBy, key);
    } catch (err) {
      // Another create with the same key got in first (the key's unique index): its job is the answer.
      const first = key && await earlierJob(this.db, key);
      if (first) return first;
      throw err;
    }
    this.log.info("transfer created", { transfer: transferId, studies: tasks.length, by: createdBy });
    void this.tick();
    return { id: transferId };
  }

  /** A job's row, its tasks' and its audit entry, in one transaction. */
  async #insert(
    transferId: string,
    input: CreateTransfer,
    tasks: ReturnType<typeof tasksOf>,
    createdBy: string,
    key: Keyed | undefined,
  ): Promise<void> {
    const now = Date.now();
    await atomically(this.db, (tx) => [
      tx.insert(transfers).values({
        id: transferId,
        sourceSite: input.source.site,
        sourceNode: input.source.node ?? null,
        destinationSite: input.destination.site,
        destinationNode: input.destination.node ?? null,
        status: "pending",
        priority: input.priority ?? 0,
        ...windowColumns(input.window),
        bandwidthMbps: input.bandwidthMbps ?? null,
        deid: input.deid ? storedDeid(input.deid) : null,
        // In a cluster the hub that creates a job drives it first.
        driverHub: this.leases?.hubId ?? null,
        driverExpiresAt: this.leases ? now + this.leases.leaseMs : null,
        createdBy,
        createdAt: now,
        updatedAt: now,
        ...(key ?? {}),
      }),
      tx.insert(transferTasks).values(
        tasks.map(({ study, series }, index) => ({
          id: taskId(transferId, index),
          transferId,
          studyInstanceUid: study,
          series: series ? JSON.stringify(series) : null,
          status: "pending",
          updatedAt: now,
        })),
      ),
      entry(tx, createdBy, "transfer.create", transferId, {
        source: input.source,
        destination: input.destination,
        studies: tasks.length,
        ...(input.series ? { series: tasks.reduce((n, k) => n + (k.series?.length ?? 0), 0) } : {}),
        ...(input.window ? { window: input.window } : {}),
        ...(input.bandwidthMbps ? { bandwidthMbps: input.bandwidthMbps } : {}),
        ...(input.deid ? { deid: deidView({ deid: storedDeid(input.deid) } as TransferRow) } : {}),
      }),
    ]);
  }

  /**
   * Refuses a node its site does not have, when the site is online to say (an offline site's nodes are
   * not known here: its transfer then fails with the site's own answer).
   */
  async #checkNode(site: string, node: string): Promise<void> {
    if (!this.sessions.online(site)) return;
    let names: string[];
    try {
      names = (await this.sessions.ask(site, { op: "nodes" }, AbortSignal.timeout(NODE_ASK_MS))).nodes
        .map((n) => n.name);
    } catch {
      return;
    }
    if (!names.includes(node)) {
      throw new TransferError(
        `site ${site} has no node named ${node} (its nodes: ${names.length ? names.join(", ") : "none"})`,
      );
    }
  }

  /**
   * Sets or clears a job's window and bandwidth cap (`null` clears; absent keeps). Objects held for a
   * window that no longer applies go at once; a new cap applies from the next object relayed.
   */
  async schedule<T extends boolean = true>(
    transferId: string,
    change: { window?: Windows | null; bandwidthMbps?: number | null },
    actor = "unknown",
    tasks?: T,
  ): Promise<Answer<T>> {
    try {
      checkSchedule({ window: change.window ?? undefined, bandwidthMbps: change.bandwidthMbps ?? undefined });
    } catch (err) {
      throw new TransferError((err as Error).message);
    }
    const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) });
    if (!t) throw new TransferNotFoundError(`no transfer ${transferId}`);
    if (TERMINAL.has(t.status)) throw new TransferError(`the transfer is over (${t.status})`);
    const set: Partial<TransferRow> = { updatedAt: Date.now() };
    if (change.window !== undefined) Object.assign(set, windowColumns(change.window));
    if (change.bandwidthMbps !== undefined) set.bandwidthMbps = change.bandwidthMbps;
    await atomically(this.db, (tx) => [
      tx.update(transfers).set(set).where(eq(transfers.id, transferId)),
      entry(tx, actor, "transfer.schedule", transferId, change),
    ]);
    this.#schedule.forget(transferId);
    const updated = (await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) }))!;
    const window = windowOf(updated);
    if (!window || isOpen(window, Date.now())) {
      // Only the tasks at their sources (what a window holds), not every task of the job.
      const atSource = await this.db.select({ id: transferTasks.id }).from(transferTasks).where(and(
        eq(transferTasks.transferId, transferId),
        inArray(transferTasks.status, ["queued", "in_progress"]),
      ));
      for (const task of atSource) await this.#schedule.release(updated, task.id, true);
    }
    void this.tick();
    return await this.#answer(transferId, tasks);
  }

  /** The job as an action answers it (Answer). */
  async #answer<T extends boolean>(transferId: string, tasks: T | undefined): Promise<Answer<T>> {
    return (tasks === false ? await this.summary(transferId) : await this.get(transferId)) as Answer<T>;
  }

  /** Stops a transfer now: the source drops what it has not sent; what got through is reported. */
  async cancel<T extends boolean = true>(
    transferId: string,
    actor = "unknown",
    tasks?: T,
  ): Promise<Answer<T>> {
    const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) });
    if (!t) throw new TransferNotFoundError(`no transfer ${transferId}`);
    if (t.status === "canceled") return await this.#answer(transferId, tasks);
    if (TERMINAL.has(t.status)) throw new TransferError(`the transfer is over (${t.status})`);
    // Only the tasks a cancel changes: a job of thousands of studies, most of them over, reads the few left.
    const changed = await this.db.select().from(transferTasks).where(and(
      eq(transferTasks.transferId, transferId),
      notInArray(transferTasks.status, [...TERMINAL, CANCELING]),
    ));
    // The job's tasks, counted (one row): those the cancel does not change were over already (its audit entry).
    const [{ studies }] = await this.db.select({ studies: count() }).from(transferTasks)
      .where(eq(transferTasks.transferId, transferId));
    let settled = 0;
    for (const task of changed) {
      // A pending task is not at its source yet (a hand-over under way ends in #dispatch, which sees this).
      const told = task.status === "pending" ? "canceled" : await this.#tellCancel(t, task);
      // Written over the state the source's last report left (a task it had just finished was counted as
      // that, once), and only over that state: a report landing between the read and the write (another
      // pass's #follow) makes the write miss, and the state is read again. Counted by the write that lands.
      let before = told !== "canceled" || task.status === "pending"
        ? task
        : await this.db.query.transferTasks.findFirst({ where: eq(transferTasks.id, task.id) });
      for (let tries = 0; before && tries < 5; tries++) {
        const set = await this.db.update(transferTasks).set({
          status: told === "canceled" ? "canceled" : CANCELING,
          ...(told === "canceled" ? {} : { lastError: told }),
          updatedAt: Date.now(),
        }).where(and(eq(transferTasks.id, task.id), eq(transferTasks.status, before.status)))
          .returning({ id: transferTasks.id });
        if (set.length) {
          if (told === "canceled") this.#finished(before.status, "canceled");
          if (told === "canceled") settled++;
          break;
        }
        before = await this.db.query.transferTasks.findFirst({ where: eq(transferTasks.id, task.id) });
      }
    }
    await atomically(this.db, (tx) => [
      tx.update(transfers).set({ status: "canceled", updatedAt: Date.now() }).where(
        eq(transfers.id, transferId),
      ),
      entry(tx, actor, "transfer.cancel", transferId, {
        studies: changed.length,
        canceled: settled,
        canceling: changed.length - settled,
        alreadyOver: Number(studies) - changed.length,
      }),
    ]);
    this.#schedule.ended(transferId, changed.map((k) => k.id));
    return await this.#answer(transferId, tasks);
  }

  /**
   * Tells the source to drop what it holds for a task, then records what got through. Answers "canceled"
   * when that is final, else the note the task keeps while `canceling`: the source could not be told
   * (offline), or objects already on their way have yet to finish (they may still arrive, and count).
   * tick() asks again until it is final.
   */
  async #tellCancel(t: TransferRow, task: TransferTaskRow): Promise<string> {
    try {
      await this.sessions.ask(t.sourceSite, { op: "cancel", transfer: task.id });
    } catch (err) {
      this.log.warn("could not reach the source to cancel; it will be told when it is back", {
        transfer: t.id,
        reason: (err as Error).message,
      });
      return CANCEL_WAITING;
    }
    const p = await this.#follow(t, task, true);
    if (!p) return CANCEL_WAITING;
    // Rows its senders had taken: each is checked for the cancel before it goes, so some never leave (QA
    // 2026-12-07: "18 ... on their way", of which 13 went). Said as the most that may still arrive.
    if (p.inFlight > 0) {
      return `${CANCEL_FINISHING}at most ${p.inFlight} objects its senders had already taken may still arrive`;
    }
    // Objects the destination has and has yet to store (or have committed) at its node still reach it: the
    // task's `done` would otherwise stop short of what the node ends up holding.
    if (p.toNode > 0) {
      const why = p.toNodeWhy ? `: ${p.toNodeWhy}` : "";
      return `${CANCEL_FINISHING}${p.toNode} objects at ${t.destinationSite} on their way to its node ${t.destinationNode} finish first${why}`;
    }
    return "canceled";
  }

  /**
   * Tasks canceled while their source was offline (or being handed the study), or with objects still on
   * their way: told (again) and followed while their source is online, until nothing of them moves.
   */
  async #finishCancels(): Promise<void> {
    const waiting = await this.db.select().from(transferTasks).where(eq(transferTasks.status, CANCELING));
    for (const task of waiting) {
      const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, task.transferId) });
      if (!t || !this.sessions.online(t.sourceSite)) continue;
      const told = await this.#tellCancel(t, task);
      const after = await this.db.query.transferTasks.findFirst({ where: eq(transferTasks.id, task.id) });
      const note = (e: string | null | undefined) => e === CANCEL_WAITING || e?.startsWith(CANCEL_FINISHING);
      if (told !== "canceled") {
        if (note(after?.lastError) || !after?.lastError) {
          await this.db.update(transferTasks).set({ lastError: told }).where(
            and(eq(transferTasks.id, task.id), eq(transferTasks.status, CANCELING)),
          );
        }
        continue;
      }
      const settled = await this.db.update(transferTasks).set({
        status: "canceled",
        lastError: note(after?.lastError) ? null : after?.lastError ?? null,
        updatedAt: Date.now(),
      }).where(and(eq(transferTasks.id, task.id), eq(transferTasks.status, CANCELING)))
        .returning({ id: transferTasks.id });
      if (settled.length) this.#finished(CANCELING, "canceled");
      this.#atNode.forget(task.id);
      this.log.info("transfer cancel settled at its source", { transfer: t.id });
    }
  }

  /**
   * The objects of one study of a transfer, as the source's queue sees them, in the order it queued them:
   * every one, asked of the source a page at a time; or with `limit`, that many, after the row `after` (the
   * last `id` of the page before). A source older than paging (FEATURE_OBJECTS_AFTER) is asked once, for
   * `limit` or its own default of 1000 (until 2026-12-06 every source was: a study of more than 1000
   * objects listed its first 1000, silently); `after` asked of it is a TransferError saying so.
   */
  async objects(
    transferId: string,
    studyInstanceUid: string,
    page: { after?: number; limit?: number } = {},
  ): Promise<QueueRowView[]> {
    const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) });
    if (!t) throw new TransferNotFoundError(`no transfer ${transferId}`);
    const task = await this.db.query.transferTasks.findFirst({
      where: and(
        eq(transferTasks.transferId, transferId),
        eq(transferTasks.studyInstanceUid, studyInstanceUid),
      ),
    });
    if (!task) throw new TransferNotFoundError(`the transfer has no study ${studyInstanceUid}`);
    // The source's rows of the task: only the series it names, when it names some. What asking it fails
    // with is thrown as it is, for the API to map as for any request to a site: an offline source is
    // SERVICE_UNAVAILABLE, never a bad request.
    const features = await this.sessions.featuresOf(t.sourceSite);
    const committing = features?.has(FEATURE_COMMITMENT_STATE) ? { committing: true as const } : {};
    const pages = features?.has(FEATURE_OBJECTS_AFTER) ?? false;
    if (page.after && !pages) {
      const version = versionWithout(this.sessions.get(t.sourceSite)?.agentVersion, FEATURE_OBJECTS_AFTER);
      throw new TransferError(
        `${t.sourceSite}'s agent (${version}) cannot list objects after one: ask without after (up to ` +
          "10000 at once, with limit), or upgrade it",
      );
    }
    const ask = async (limit: number | undefined, after: number | undefined) =>
      (await this.sessions.ask(t.sourceSite, {
        op: "objects",
        transfer: task.id,
        ...(limit ? { limit } : {}),
        ...(after ? { after } : {}),
        ...committing,
      })).objects;
    let rows: QueueRowView[];
    if (page.limit || !pages) rows = await ask(page.limit, page.after);
    else {
      rows = [];
      for (let after = page.after ?? 0;;) {
        const got = await ask(this.nodeCheckPage, after);
        rows.push(...got);
        if (got.length < this.nodeCheckPage) break;
        after = got[got.length - 1].id;
      }
    }
    return t.destinationNode ? await this.#objectsAtNode(t, rows) : rows;
  }

  /**
   * With a destination node: the objects the source delivered as the destination's node has them. One the
   * node refused until the destination gave up reads `dead`, with the node's reason; one that waits at the
   * destination for its node reads `failed` (its last attempt's reason) or, not yet tried, `in_flight`; one
   * stored and awaiting the node's Storage Commitment report, `committing`. Without the destination's word
   * (offline, an agent that cannot say) the rows are as the source has them.
   */
  async #objectsAtNode(t: TransferRow, rows: QueueRowView[]): Promise<QueueRowView[]> {
    const delivered = rows.filter((o) => o.state === "done" && !o.destination.startsWith("deid:"));
    const features = await this.sessions.featuresOf(t.destinationSite);
    const committing = features?.has(FEATURE_COMMITMENT_STATE) ?? false;
    const listNotStored = features?.has(FEATURE_DELIVERY_NOT_STORED) ?? false;
    if (!delivered.length || !features?.has(FEATURE_DELIVERY) || !(committing || listNotStored)) return rows;
    const site = t.destinationSite, node = t.destinationNode!;
    try {
      // The destination is asked about MAX_NODE_CHECK objects at a time (a study listed whole may hold more).
      const awaiting = new Set<string>();
      const notStored = new Map<string, { state: string; lastError?: string }>();
      for (let i = 0; i < delivered.length; i += MAX_NODE_CHECK) {
        const d = await this.sessions.ask(site, {
          op: "delivery",
          node,
          sopInstanceUids: delivered.slice(i, i + MAX_NODE_CHECK).map((o) => o.sopInstanceUid),
          ...(committing ? { committing: true as const } : {}),
          ...(listNotStored ? { listNotStored: true as const } : {}),
        }, AbortSignal.timeout(NODE_ASK_MS));
        for (const uid of d.committingUids ?? []) awaiting.add(uid);
        for (const o of d.notStored ?? []) notStored.set(o.sopInstanceUid, o);
      }
      if (!awaiting.size && !notStored.size) return rows;
      return rows.map((o): QueueRowView => {
        if (o.state !== "done" || o.destination.startsWith("deid:")) return o;
        if (awaiting.has(o.sopInstanceUid)) return { ...o, state: "committing" };
        const at = notStored.get(o.sopInstanceUid);
        if (!at) return o;
        if (at.state === "dead") {
          const why = at.lastError ? `: ${at.lastError}` : "";
          return {
            ...o,
            state: "dead",
            lastError:
              `${site} could not store it to its node ${node}${why} (it is in ${site}'s dead letter)`,
          };
        }
        return at.lastError
          ? { ...o, state: "failed", lastError: `it waits at ${site} for its node ${node}: ${at.lastError}` }
          : { ...o, state: "in_flight", lastError: "" };
      });
    } catch {
      return rows;
    }
  }

  /**
   * Runs a transfer again for what did not get through; done objects are not sent twice. The change
   * and its audit entry are one transaction.
   */
  async retry<T extends boolean = true>(
    transferId: string,
    actor = "unknown",
    tasks?: T,
  ): Promise<Answer<T>> {
    const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) });
    if (!t) throw new TransferNotFoundError(`no transfer ${transferId}`);
    // Nothing failed, warned or was canceled: a retry would only show the job in progress for a moment.
    if (t.status === "success") throw new TransferError("nothing to retry: the transfer is over (success)");
    // With a destination node, what the node refused goes to it again once the source has delivered the
    // rest. A task still being canceled is not retried (its rows may still move, or its source is yet to be
    // told): a retry then changed nothing, showed the job in progress, and the cancel ended it as before.
    const touched = await this.db.select().from(transferTasks).where(and(
      eq(transferTasks.transferId, transferId),
      inArray(transferTasks.status, t.destinationNode ? ["failure", "warning", "canceling"] : ["canceling"]),
    ));
    const canceling = touched.filter((k) => k.status === "canceling").length;
    if (canceling) {
      const which = `${canceling} ${canceling === 1 ? "study has" : "studies have"}`;
      throw new TransferError(
        `the transfer is still being canceled (${which} objects on their way, or a source to tell once it ` +
          "is back): retry it once it is canceled",
      );
    }
    for (const k of t.destinationNode ? touched : []) {
      // Asked now, so that it holds whichever hub of a cluster drives the job; the next check of the
      // node asks again when a site could not be reached.
      await this.#atNode.replay(t, k);
    }
    // One row: how many tasks the retry sets going again (its audit entry), and how many reached their source
    // (an object count). A job none of whose tasks did (canceled or failed before any hand-over) is pending
    // again, as a new job in that state reads; tick() moves it on.
    const [counts] = await this.db.select({
      again: sql<number>`sum(case when ${inArray(transferTasks.status, RETRIED)} then 1 else 0 end)`,
      handed: count(transferTasks.objects),
    }).from(transferTasks).where(eq(transferTasks.transferId, transferId));
    const handed = t.status !== "pending" && Number(counts?.handed ?? 0) > 0;
    const now = Date.now();
    await atomically(this.db, (tx) => [
      tx.update(transferTasks).set({ status: "pending", attempts: 0, lastError: null, updatedAt: now })
        .where(
          and(
            eq(transferTasks.transferId, transferId),
            inArray(transferTasks.status, RETRIED),
          ),
        ),
      tx.update(transfers).set({ status: handed ? "in_progress" : "pending", updatedAt: now })
        .where(eq(transfers.id, transferId)),
      entry(tx, actor, "transfer.retry", transferId, { studies: Number(counts?.again ?? 0) }),
    ]);
    // The job as the retry left it, read before the pass it starts can note (say) an offline source.
    const retried = await this.#answer(transferId, tasks);
    void this.tick();
    return retried;
  }

  /** One pass: hand pending tasks to their sources, follow the others, settle the jobs. */
  async tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      // Higher priority first, then the oldest: their tasks reach the sources' queues first.
      const active = await this.db.select().from(transfers).where(
        inArray(transfers.status, ["pending", "in_progress"]),
      ).orderBy(desc(transfers.priority), asc(transfers.createdAt));
      const mine = this.leases ? await this.leases.drive(active.map((t) => t.id)) : undefined;
      for (const t of active) {
        // A job another hub drove until its lease ran out (that hub died or stopped): said once, here.
        if (mine?.has(t.id) && t.driverHub && t.driverHub !== this.leases!.hubId) {
          this.log.info("transfer taken over from another hub", { transfer: t.id, from: t.driverHub });
        }
      }
      const now = Date.now();
      for (const t of active) {
        if (mine && !mine.has(t.id)) continue; // another hub of the cluster drives it
        if (!this.sessions.online(t.sourceSite)) {
          // The source is offline: the job waits, and its tasks say so.
          await this.db.update(transferTasks).set({ lastError: offline(t.sourceSite) }).where(and(
            eq(transferTasks.transferId, t.id),
            inArray(transferTasks.status, ACTIVE_TASK),
            or(isNull(transferTasks.lastError), like(transferTasks.lastError, `${OFFLINE}%`)),
          ));
          continue;
        }
        const window = windowOf(t);
        const closed = window && !isOpen(window, now);
        const opens = closed ? nextOpening(window, now) : 0;
        // Only the tasks a pass acts on: a job of thousands of studies, most of them over, reads the few
        // still moving (through the transfer_tasks_transfer index).
        const tasks = await this.db.select().from(transferTasks).where(and(
          eq(transferTasks.transferId, t.id),
          inArray(transferTasks.status, ACTIVE_TASK),
        ));
        for (const task of tasks) {
          const atSource = task.status === "queued" || task.status === "in_progress";
          if (!atSource && task.lastError?.startsWith(OFFLINE)) {
            // The source is back: a task it has not been given (held by a closed window, or waiting its turn)
            // no longer waits for it (until 2026-12-07 the note stayed until the window opened; QA 35a).
            await this.db.update(transferTasks).set({ lastError: null }).where(and(
              eq(transferTasks.id, task.id),
              like(transferTasks.lastError, `${OFFLINE}%`),
            ));
          }
          if (closed) {
            // Outside its window a job starts nothing, and what its sources hold waits for the opening.
            if (atSource) await this.#schedule.hold(t, task.id, opens);
          } else {
            if (atSource) await this.#schedule.release(t, task.id);
            if (task.status === "pending" && now - task.updatedAt >= handOverDelayMs(task.attempts)) {
              this.#dispatch(t, task);
            }
          }
          if (atSource) await this.#follow(t, task);
        }
        await this.#settle(t.id);
      }
      await this.#finishCancels();
    } catch (err) {
      // Once a second while the database is away: the driver's reason, not the query and its values.
      this.log.error("transfer pass failed", { reason: dbFailureReason(err) });
    } finally {
      this.#busy = false;
    }
  }

  #dispatch(t: TransferRow, task: TransferTaskRow): void {
    if (this.#sending.has(task.id)) return;
    this.#sending.add(task.id);
    (async () => {
      try {
        if (t.sourceNode) {
          // A retrieve may take long: the task says what it waits for.
          await this.db.update(transferTasks).set({
            lastError: `${RETRIEVING}${t.sourceNode} (attempt ${task.attempts + 1})`,
          })
            .where(and(eq(transferTasks.id, task.id), eq(transferTasks.status, "pending")));
        }
        const series = seriesOf(task);
        // What the source's agent named in its hello (here, or as the hub holding it says); an agent nobody
        // can vouch for is asked all the same: an older one refuses or drops what it does not know.
        const features = await this.sessions.featuresOf(t.sourceSite);
        if (series && features && !features.has(FEATURE_SERIES_TRANSFER)) {
          // Asked for the whole study it would send more than was asked: the task fails, saying why.
          throw new SourceUnableError(
            `site ${t.sourceSite} runs an agent (${
              versionWithout(this.sessions.get(t.sourceSite)?.agentVersion, FEATURE_SERIES_TRANSFER)
            }) that cannot send some series of a study only; upgrade it, or transfer the whole study`,
          );
        }
        const deid = t.deid ? sendDeid(t) : undefined;
        if (needsCustomFeature(deid) && features && !features.has(FEATURE_TRANSFER_DEID_CUSTOM)) {
          throw new SourceUnableError(
            customUnsupported(t.sourceSite, this.sessions.get(t.sourceSite)?.agentVersion),
          );
        }
        const request = {
          op: "send" as const,
          transfer: task.id,
          studyInstanceUid: task.studyInstanceUid,
          ...(series ? { seriesInstanceUids: series } : {}),
          ...(t.sourceNode ? { node: t.sourceNode } : {}),
          to: { site: t.destinationSite, ...(t.destinationNode ? { node: t.destinationNode } : {}) },
          ...(deid ? { deid } : {}),
          // A retrieve from the source's node (a C-MOVE of thousands of images over a slow link) may take
          // long: the agent's default deadline (5 minutes) would abort it, and every retry with it.
          deadlineMs: SEND_DEADLINE_MS,
        };
        const { objects, missing } = await this.sessions.ask(t.sourceSite, request);
        const status = objects === 0 ? "failure" : "queued";
        const handed = await this.db.update(transferTasks).set({
          status,
          objects,
          missing,
          lastError: objects === 0 ? nothingFound(t, task) : null,
          updatedAt: Date.now(),
        }).where(and(eq(transferTasks.id, task.id), eq(transferTasks.status, "pending")))
          .returning({ id: transferTasks.id });
        if (handed.length) this.#finished("pending", status);
        if (!handed.length) {
          // Canceled while the source was being handed the study: it now holds rows the cancel must reach.
          await this.db.update(transferTasks).set({
            status: CANCELING,
            objects,
            missing,
            lastError: CANCEL_WAITING,
            updatedAt: Date.now(),
          }).where(and(eq(transferTasks.id, task.id), eq(transferTasks.status, "canceled")));
          void this.tick();
          return;
        }
        await this.db.update(transfers).set({ status: "in_progress", updatedAt: Date.now() })
          .where(and(eq(transfers.id, t.id), eq(transfers.status, "pending")));
        await this.#dropTable(t.id);
      } catch (err) {
        const attempts = task.attempts + 1;
        // A source that refuses the request as asked (no de-identification key, say) will refuse it again.
        const refused = err instanceof SourceUnableError ||
          err instanceof SiteRequestError && err.code === "bad-request";
        // A source held by another hub of a cluster was asked without knowing its features: an agent from
        // before series transfers resets the request it cannot read, which says nothing of why.
        const unread = task.series && !this.sessions.get(t.sourceSite) && !(err instanceof SiteRequestError);
        const given = await this.db.update(transferTasks).set({
          attempts,
          lastError: `${err instanceof SourceUnableError ? err.message : handOverFailure(t, err as Error)}${
            unread
              ? " (a source agent from before series transfers cannot read the request: upgrade it if it is one)"
              : ""
          }`,
          status: refused || attempts >= MAX_SEND_ATTEMPTS ? "failure" : "pending",
          updatedAt: Date.now(),
        }).where(and(eq(transferTasks.id, task.id), eq(transferTasks.status, "pending")))
          .returning({ status: transferTasks.status });
        for (const r of given) this.#finished("pending", r.status);
      } finally {
        this.#sending.delete(task.id);
      }
    })().catch((err) => {
      // Recording the outcome failed (the database went away): the task stays pending and is handed over
      // again; a rejection left unhandled here would end the hub.
      this.log.error("transfer hand-over could not be recorded", {
        transfer: t.id,
        reason: dbFailureReason(err),
      });
    });
  }

  /** Drops a job's pseudonym table once every study has reached its source (which keeps it). */
  async #dropTable(transferId: string): Promise<void> {
    const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) });
    if (!t?.deid) return;
    // After each study handed over: one task still without its object count, if any, not every task.
    const waiting = await this.db.select({ id: transferTasks.id }).from(transferTasks)
      .where(and(eq(transferTasks.transferId, transferId), isNull(transferTasks.objects))).limit(1);
    const kept = withoutTable(t, waiting.length > 0);
    if (kept) await this.db.update(transfers).set({ deid: kept }).where(eq(transfers.id, transferId));
  }

  /** Records a task's progress at its source (and at the destination's node); the report, if any. */
  async #follow(
    t: TransferRow,
    task: TransferTaskRow,
    fresh = false,
  ): Promise<(DetailOf<"progress"> & Omit<AtNode, "row">) | undefined> {
    let p: DetailOf<"progress">;
    try {
      p = await this.sessions.ask(t.sourceSite, { op: "progress", transfer: task.id });
    } catch (err) {
      if (err instanceof SiteRequestError) return undefined; // asked again on the next pass
      throw err;
    }
    // A note that the source was offline is over once it answers.
    const update = taskProgress(
      task.lastError?.startsWith(OFFLINE) ? { ...task, lastError: null } : task,
      p,
    );
    let toNode: Omit<AtNode, "row"> = { toNode: 0 };
    if (t.destinationNode && p.done > 0 && !TERMINAL.has(task.status)) {
      const { row, ...rest } = await this.#atNode.check(t, task, update, p.done, p.lastError, fresh);
      Object.assign(update, row);
      toNode = rest;
    }
    // Only over the state this report was read against: a task another writer moved meanwhile (a cancel,
    // another pass) is left as that writer left it, and read again at the next pass. Otherwise a task
    // finishing while it was asked was counted by both writers (and a canceled one set back to success).
    const written = await this.db.update(transferTasks).set({ ...update, updatedAt: Date.now() })
      .where(and(eq(transferTasks.id, task.id), eq(transferTasks.status, task.status)))
      .returning({ id: transferTasks.id });
    if (written.length) this.#finished(task.status, update.status, task.id);
    return { ...p, ...toNode };
  }

  /**
   * Ends a job whose tasks are all over, with the worst of their states. Each pass asks the database for
   * the job's tasks counted by state (one walk of the transfer_tasks_transfer index), not for the tasks.
   */
  async #settle(transferId: string): Promise<void> {
    const byState = await this.statesOf(transferId);
    if ([...byState.keys()].some((state) => !TERMINAL.has(state))) return;
    // Once, as the job ends: which of its tasks the scheduler may still remember.
    const ids = await this.db.select({ id: transferTasks.id }).from(transferTasks)
      .where(eq(transferTasks.transferId, transferId));
    this.#schedule.ended(transferId, ids.map((k) => k.id));
    const status = ["failure", "warning", "canceled"].find((s) => byState.has(s)) ?? "success";
    await this.db.update(transfers).set({ status, updatedAt: Date.now() }).where(
      eq(transfers.id, transferId),
    );
    this.log.info("transfer finished", { transfer: transferId, status });
  }
}
