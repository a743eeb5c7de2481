/**
 * What the hub reads of transfer jobs: one job with its tasks, pages of jobs (whole, or summed by the
 * database), a page of a job's tasks, a job's tasks counted by state. TransferService (./service.ts) drives
 * the jobs and answers these from its own database.
 */
import { and, asc, count, desc, eq, gt, inArray, sum } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { type TransferRow, transfers, type TransferTaskRow, transferTasks } from "../db/schema.ts";
import {
  summary,
  type TaskPage,
  taskView,
  type Totals,
  type TransferSummary,
  type TransferView,
  view,
} from "./view.ts";

/** A job's totals when it has no task. */
const NO_TOTALS: Totals = { studies: 0, objects: 0, done: 0, failed: 0, missing: 0, held: 0 };

export class TransferReads {
  constructor(protected readonly db: HubDb) {}

  async get(transferId: string): Promise<TransferView | undefined> {
    const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) });
    if (!t) return undefined;
    const tasks = await this.db.select().from(transferTasks).where(eq(transferTasks.transferId, transferId));
    return view(t, tasks);
  }

  /**
   * The latest jobs, newest first (jobs of one millisecond in a fixed order), `offset` of them skipped;
   * with `sites`, only those whose source and destination are among them.
   */
  async list(limit = 100, sites?: readonly string[], offset = 0): Promise<TransferView[]> {
    const page = await this.#page(limit, sites, offset);
    // Every task of every job listed, in one query (not one per job): still all of them (see summaries()).
    const tasks = new Map<string, TransferTaskRow[]>(page.map((t) => [t.id, []]));
    if (page.length) {
      const rows = await this.db.select().from(transferTasks)
        .where(inArray(transferTasks.transferId, page.map((t) => t.id)));
      for (const k of rows) tasks.get(k.transferId)!.push(k);
    }
    return page.map((t) => view(t, tasks.get(t.id)!));
  }

  /**
   * The page list() gives, without each job's tasks: their totals, summed by the database in one query
   * (what the console's lists show; a page with a job of thousands of studies is not megabytes).
   */
  async summaries(limit = 100, sites?: readonly string[], offset = 0): Promise<TransferSummary[]> {
    const rows = await this.#page(limit, sites, offset);
    const totals = await this.#totals(rows.map((t) => t.id));
    return rows.map((t) => summary(t, totals.get(t.id) ?? { ...NO_TOTALS }));
  }

  /** A job without its tasks, their totals summed by the database (what its progress follows). */
  async summary(transferId: string): Promise<TransferSummary | undefined> {
    const t = await this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) });
    if (!t) return undefined;
    return summary(t, (await this.#totals([t.id])).get(t.id) ?? { ...NO_TOTALS });
  }

  /**
   * A page of a job's tasks in the order of their ids, the order the job named them (taskId(); `after`: the
   * `next` of the page before; or `offset` of them skipped), all of them or those in one state, with the
   * job's totals and its tasks counted by state. Reads the page's rows and one more (and those skipped) (transfer_tasks_page, or transfer_tasks_transfer with a state), whatever the job's
   * size. Undefined for no such job.
   */
  async tasks(
    transferId: string,
    { limit = 100, after, offset = 0, status }: {
      limit?: number;
      after?: string;
      offset?: number;
      status?: string;
    } = {},
  ): Promise<TaskPage | undefined> {
    const job = await this.summary(transferId);
    if (!job) return undefined;
    const rows = await this.db.select().from(transferTasks).where(and(
      eq(transferTasks.transferId, transferId),
      status === undefined ? undefined : eq(transferTasks.status, status),
      after === undefined ? undefined : gt(transferTasks.id, after),
    )).orderBy(asc(transferTasks.id)).limit(limit + 1).offset(offset);
    const page = rows.slice(0, limit);
    return {
      job,
      states: Object.fromEntries(await this.statesOf(transferId)),
      tasks: page.map(taskView),
      ...(rows.length > limit ? { next: page[page.length - 1].id } : {}),
    };
  }

  /** The totals of these jobs' tasks, one GROUP BY (a job without tasks is absent). */
  async #totals(ids: string[]): Promise<Map<string, Totals>> {
    if (!ids.length) return new Map();
    const sums = await this.db.select({
      id: transferTasks.transferId,
      studies: count(),
      objects: sum(transferTasks.objects),
      done: sum(transferTasks.done),
      failed: sum(transferTasks.failed),
      missing: sum(transferTasks.missing),
      held: sum(transferTasks.held),
    }).from(transferTasks).where(inArray(transferTasks.transferId, ids)).groupBy(transferTasks.transferId);
    return new Map(sums.map((r) => [r.id, {
      studies: Number(r.studies),
      objects: Number(r.objects ?? 0),
      done: Number(r.done ?? 0),
      failed: Number(r.failed ?? 0),
      missing: Number(r.missing ?? 0),
      held: Number(r.held ?? 0),
    }]));
  }

  /** A page of jobs, newest first: a walk down the transfers_created index. */
  #page(limit: number, sites: readonly string[] | undefined, offset: number): Promise<TransferRow[]> {
    return this.db.select().from(transfers)
      .where(
        sites
          ? and(inArray(transfers.sourceSite, [...sites]), inArray(transfers.destinationSite, [...sites]))
          : undefined,
      )
      .orderBy(desc(transfers.createdAt), desc(transfers.id)).limit(limit).offset(offset);
  }

  /** A job's tasks counted by state (the states it has none in are absent). */
  protected async statesOf(transferId: string): Promise<Map<string, number>> {
    const rows = await this.db.select({ state: transferTasks.status, n: count() }).from(transferTasks)
      .where(eq(transferTasks.transferId, transferId)).groupBy(transferTasks.status);
    return new Map(rows.map((r) => [r.state, Number(r.n)]));
  }
}
