/**
 * A transfer's objects at its destination's node: what the destination site acknowledged is only in its
 * archive and queue, and a task to a node is done when its objects are stored there. The orchestrator
 * (service.ts) asks this for each task it follows; it lists the objects the source delivered, a page at a
 * time, and asks the destination how far each got to the node (stored, waiting, retrying, in its dead
 * letter, awaiting Storage Commitment), remembering the last answer between checks.
 */
import {
  FEATURE_COMMITMENT_STATE,
  FEATURE_DELIVERY,
  FEATURE_OBJECTS_AFTER,
  versionWithout,
} from "@conduit/shared/tunnel";
import type { TransferRow, TransferTaskRow } from "../db/schema.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { TERMINAL } from "./view.ts";
import { ackCountedNote, isOversizedReply, nodeWaitNote } from "./progress.ts";

/**
 * How often a task's delivery to its destination node is checked while the source still sends: each check
 * lists the task's objects at both sites, so a large task is checked every 5 s, a small one every second
 * (its `done` would otherwise sit at 0 for the first 5 s of a transfer that takes 6).
 */
const nodeCheckMs = (objects: number) => Math.min(5000, Math.max(1000, objects * 5));
/** Above this many objects a task's delivery to its destination node is not checked (one list's limit). */
export const MAX_NODE_CHECK = 10_000;
/** How long the hub waits for either site's answer in that check. */
export const NODE_ASK_MS = 10_000;
/** The last error of a source's queue row a cancel took out (agent/queue/keys.ts CANCELED; its state dead). */
const CANCELED_ROW = "canceled";

/** A check of a task's objects at its destination's node (NodeDelivery.check): its row, and how many are to go. */
export interface AtNode {
  row: Partial<TransferTaskRow>;
  toNode: number;
  /** Why some of those wait, as the destination last said (its node refusing, or not answering). */
  toNodeWhy?: string;
}

/** The delivery of transfers' objects to their destination nodes, checked task by task. */
export class NodeDelivery {
  /** The last check of a task's delivery to its destination node. */
  readonly #checks = new Map<string, { at: number; result: AtNode }>();
  /** Retried tasks whose objects the destination's node refused: their dead rows there go again. */
  readonly #replay = new Set<string>();
  /** Tasks whose source (older than FEATURE_OBJECTS_AFTER) could not send its rows in one answer. */
  readonly #unlisted = new Set<string>();

  /** `page`: how many of a task's objects are listed at a time (the service's `nodeCheckPage`). */
  constructor(private readonly sessions: Sessions, private readonly page: () => number) {}

  /** Forgets the last check of a task (its cancel settled). */
  forget(taskId: string): void {
    this.#checks.delete(taskId);
  }

  /**
   * A retried task's objects the node refused go again: asked of the destination now (so that it holds
   * whichever hub of a cluster drives the job), else at the next check of the node.
   */
  async replay(t: TransferRow, task: TransferTaskRow): Promise<void> {
    if (!(await this.#replayNow(t, task))) this.#replay.add(task.id);
  }

  /**
   * With a destination node: what the destination site acknowledged is only in its archive and queue;
   * the task is done when its objects are stored to the node. Asks the source which objects it delivered
   * and the destination how far they got to the node (at most every `nodeCheckMs` while the source still
   * sends, every pass after). `done` then counts objects at the node, `failed` also those the node refused
   * for good (the destination's dead letter), and a task the source finished stays `in_progress` until the
   * node has them all, with the reason it waits as its last error. `toNode`: of the objects the destination
   * has, those still to be stored at the node or awaiting its commitment (0 when it could not be asked).
   */
  async check(
    t: TransferRow,
    task: TransferTaskRow,
    update: Partial<TransferTaskRow>,
    delivered: number,
    sourceError: string | undefined,
    fresh: boolean,
  ): Promise<AtNode> {
    const finished = update.status === "success" || update.status === "warning";
    const last = this.#checks.get(task.id);
    if (!finished && !fresh && last && Date.now() - last.at < nodeCheckMs(task.objects ?? 0)) {
      return last.result;
    }
    const node = t.destinationNode!, site = t.destinationSite;
    // A source that cannot page (older than FEATURE_OBJECTS_AFTER) whose rows do not fit one answer (more
    // than MAX_NODE_CHECK, or an answer it could not send): the destination's acknowledgement counts.
    const pages = (await this.sessions.featuresOf(t.sourceSite))?.has(FEATURE_OBJECTS_AFTER) ?? false;
    if (!pages && ((task.objects ?? 0) > MAX_NODE_CHECK || this.#unlisted.has(task.id))) {
      return { row: this.#ackCounted(t, task, update, sourceError, finished), toNode: 0 };
    }
    // An agent that cannot answer `delivery` (older than it, or held by a hub of a cluster that cannot
    // say): the destination's acknowledgement counts, as before the check.
    const features = await this.sessions.featuresOf(site);
    if (!features?.has(FEATURE_DELIVERY)) return { row: {}, toNode: 0 };
    const replayDead = this.#replay.delete(task.id);
    let result: AtNode;
    try {
      // Objects awaiting the node's Storage Commitment report apart, from an agent that can say.
      const committing = features.has(FEATURE_COMMITMENT_STATE) ? { committing: true as const } : {};
      // A page of the source's delivered objects at a time, the destination's answers added up.
      const d = {
        done: 0,
        waiting: 0,
        retrying: 0,
        dead: 0,
        unknown: 0,
        committing: 0,
        lastError: undefined as string | undefined,
      };
      // Of the objects the source dropped at a cancel, those the destination has all the same (see
      // #delivered): at the node they count as done, on their way to it they are waited for.
      let droppedToNode = 0;
      for await (const { sops, dropped } of this.#delivered(t, task)) {
        // Bounded: a site that does not answer (an agent older than `delivery`) must not stall every job.
        const one = await this.sessions.ask(
          site,
          { op: "delivery", node, sopInstanceUids: sops, replayDead, ...committing },
          AbortSignal.timeout(NODE_ASK_MS),
        );
        d.done += one.done, d.waiting += one.waiting, d.dead += one.dead, d.unknown += one.unknown;
        d.retrying += one.retrying ?? 0;
        d.committing += one.committing ?? 0;
        if (one.lastError && (!d.lastError || one.dead > 0)) d.lastError = one.lastError;
        if (!dropped.length) continue;
        const got = await this.sessions.ask(
          site,
          { op: "delivery", node, sopInstanceUids: dropped, ...committing },
          AbortSignal.timeout(NODE_ASK_MS),
        );
        d.done += got.done;
        droppedToNode += got.waiting + (got.committing ?? 0);
      }
      const awaiting = d.committing ?? 0;
      const refused = d.dead > 0
        ? `${site} could not store ${d.dead} of ${delivered} objects to its node ${node}${
          d.lastError ? `: ${d.lastError}` : ""
        } (they are in ${site}'s dead letter)`
        : undefined;
      // `failed` counts, as transfers.md says, objects given up and those whose last attempt failed and wait
      // for another: at the node too (until 2026-12-07 a node down read `failed: 0` while every object waited).
      const row: Partial<TransferTaskRow> = {
        done: d.done,
        failed: (update.failed ?? 0) + d.dead + d.retrying,
      };
      result = {
        row,
        toNode: d.waiting + awaiting + droppedToNode,
        ...(d.lastError && d.dead === 0 && d.waiting + awaiting > 0 ? { toNodeWhy: d.lastError } : {}),
      };
      if (finished) {
        if (d.waiting + d.unknown + awaiting > 0) {
          // Neither done nor failed: waiting to be stored at the node, or stored and not yet committed.
          row.status = "in_progress";
          row.lastError = nodeWaitNote(d, delivered, site, node);
        } else if (refused) {
          row.status = "failure";
          row.lastError = refused;
        } else row.lastError = sourceError ?? null; // all at the node: a wait reported before is over
      } else if (refused) row.lastError = update.lastError ?? refused;
    } catch (err) {
      if (replayDead) this.#replay.add(task.id);
      // An older source's rows of a large study do not fit its answer (until 2026-12-06 the task waited for
      // ever): never asked again for this task, which counts at the acknowledgement from now on.
      if (!pages && isOversizedReply(err)) {
        this.#unlisted.add(task.id);
        this.#checks.delete(task.id);
        return { row: this.#ackCounted(t, task, update, sourceError, finished), toNode: 0 };
      }
      // Without the destination's word the objects are not known to be at the node: nothing is settled.
      result = {
        toNode: 0,
        row: {
          done: Math.min(task.done, delivered),
          ...(finished
            ? {
              status: "in_progress",
              lastError:
                `${delivered} objects at ${site}; waiting to hear how many reached its node ${node}: ${
                  (err as Error).message
                }`,
            }
            : {}),
        },
      };
    }
    this.#checks.set(task.id, { at: Date.now(), result });
    const status = result.row.status;
    if (status && TERMINAL.has(status) || finished && !status) {
      this.#checks.delete(task.id);
    }
    return result;
  }

  /**
   * A task whose objects the hub cannot list at its source (see check) counts those the destination
   * acknowledged, as without a node; once the source is done, its last error says so (after the source's
   * own, or the reason for a warning).
   */
  #ackCounted(
    t: TransferRow,
    task: TransferTaskRow,
    update: Partial<TransferTaskRow>,
    sourceError: string | undefined,
    finished: boolean,
  ): Partial<TransferTaskRow> {
    if (!finished) return {};
    this.#unlisted.delete(task.id); // the task is over (a retry asks the source again, once)
    const version = versionWithout(this.sessions.get(t.sourceSite)?.agentVersion, FEATURE_OBJECTS_AFTER);
    const note = ackCountedNote(t, task.objects ?? 0, version);
    const before = sourceError ?? (update.status === "warning" ? update.lastError : undefined);
    return { lastError: before && !before.includes(note) ? `${before}; ${note}` : note };
  }

  /**
   * The objects of a task its source delivered (their de-identified copies' UIDs, when it de-identifies), a
   * page of its rows at a time (`nodeCheckPage`; the next after the last row's id, FEATURE_OBJECTS_AFTER). A
   * source older than that is asked for MAX_NODE_CHECK rows at once, as before (whose reply does not fit one
   * control record above some 3 200 rows: check() then counts at the destination's acknowledgement).
   * `dropped`: those of the page a cancel took out of the source's queue. The destination may hold some of
   * them all the same: one it stored whose acknowledgement never reached the source (its agent killed, the
   * tunnel cut, after the last byte went), whose row was then due again and canceled.
   */
  async *#delivered(
    t: TransferRow,
    task: TransferTaskRow,
  ): AsyncGenerator<{ sops: string[]; dropped: string[] }> {
    const pages = (await this.sessions.featuresOf(t.sourceSite))?.has(FEATURE_OBJECTS_AFTER) ?? false;
    const limit = pages ? this.page() : MAX_NODE_CHECK;
    for (let after = 0;;) {
      const { objects } = await this.sessions.ask(t.sourceSite, {
        op: "objects",
        transfer: task.id,
        limit,
        ...(after ? { after } : {}),
      }, AbortSignal.timeout(NODE_ASK_MS));
      const sent = objects.filter((o) => !o.destination.startsWith("deid:"));
      yield {
        sops: sent.filter((o) => o.state === "done").map((o) => o.sopInstanceUid),
        dropped: sent.filter((o) => o.state === "dead" && o.lastError === CANCELED_ROW).map((o) =>
          o.sopInstanceUid
        ),
      };
      if (!pages || objects.length < limit) return;
      after = objects[objects.length - 1].id;
    }
  }

  /** Queues again at the destination what its node refused of a task's objects; false if it could not. */
  async #replayNow(t: TransferRow, task: TransferTaskRow): Promise<boolean> {
    if (!(await this.sessions.featuresOf(t.destinationSite))?.has(FEATURE_DELIVERY)) return false;
    try {
      for await (const { sops } of this.#delivered(t, task)) {
        await this.sessions.ask(t.destinationSite, {
          op: "delivery",
          node: t.destinationNode!,
          sopInstanceUids: sops,
          replayDead: true,
        }, AbortSignal.timeout(NODE_ASK_MS));
      }
      return true;
    } catch {
      return false;
    }
  }
}
