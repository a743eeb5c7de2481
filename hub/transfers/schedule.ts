/**
 * When and how fast a transfer moves data: its time window (hub/transfers/window.ts), its bandwidth
 * cap and its source site's uplink cap (hub/transfers/bandwidth.ts). Outside the window the hub dispatches none of the job's studies
 * and tells each source to hold what it has queued until the window opens (the `hold` request, which
 * the agent keeps in its queue rows, so it outlives a restart of either side); the cap is applied to
 * the job's objects where they cross the hub. A site's uplink cap applies to everything the hub relays
 * from that site (transfers and routes alike), shared fairly between them; a job's own cap comes on top
 * (the lower wins).
 */
import { eq } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { sites, type TransferRow, transfers, transferTasks } from "../db/schema.ts";
import type { Sessions } from "../tunnel/sessions.ts";
import { SiteRequestError } from "../tunnel/errors.ts";
import { checkWindow, type TimeWindow, type Windows } from "./window.ts";
import { chain, FairRateLimiter, RateLimiter, type Throttle } from "./bandwidth.ts";

export class ScheduleError extends Error {
  override name = "ScheduleError";
}

/** When a job may move data, and how fast. */
export interface Schedule {
  /** Hours it runs (hub/transfers/window.ts): one window or several; absent: any time. */
  window?: Windows;
  /** Cap on its relayed bytes, megabits per second; absent: none. */
  bandwidthMbps?: number;
}

/** Checks a schedule; throws ScheduleError saying what is wrong. */
export function checkSchedule(s: Schedule): void {
  if (s.window) {
    try {
      checkWindow(s.window);
    } catch (err) {
      throw new ScheduleError((err as Error).message);
    }
  }
  if (s.bandwidthMbps !== undefined && !(s.bandwidthMbps >= 0.1 && s.bandwidthMbps <= 100_000)) {
    throw new ScheduleError("the bandwidth cap is in megabits per second, from 0.1 to 100000");
  }
}

/** A job's window(s) as given, from its row. */
export function windowOf(t: TransferRow): Windows | undefined {
  if (t.windows) {
    try {
      return JSON.parse(t.windows) as Windows;
    } catch { /* the columns below then */ }
  }
  if (!t.windowStart || !t.windowEnd) return undefined;
  return { start: t.windowStart, end: t.windowEnd, ...(t.windowZone ? { timeZone: t.windowZone } : {}) };
}

/**
 * The columns that store a job's window(s): a single window of every day in the three columns alone
 * (as before weekday windows); otherwise the whole in `windows`, its first window (without its days)
 * in the three columns for a hub from before them.
 */
export function windowColumns(w: Windows | null | undefined): Pick<
  TransferRow,
  "windowStart" | "windowEnd" | "windowZone" | "windows"
> {
  if (!w) return { windowStart: null, windowEnd: null, windowZone: null, windows: null };
  const first: TimeWindow = Array.isArray(w) ? w[0] : w;
  const simple = !Array.isArray(w) && !w.days;
  return {
    windowStart: first.start,
    windowEnd: first.end,
    windowZone: first.timeZone ?? null,
    windows: simple ? null : JSON.stringify(w),
  };
}

/** How long a site's uplink cap is trusted before it is read again (another hub may have changed it). */
const SITE_CAP_TTL_MS = 5000;

export class Scheduler {
  /** Tasks told to hold at their source, with the time they were told (their window's opening). */
  readonly #held = new Map<string, number>();
  /** Bandwidth limiters by transfer, and which transfer each relayed task belongs to. */
  readonly #limiters = new Map<string, Promise<{ source: string; limiter: RateLimiter } | undefined>>();
  readonly #taskTransfer = new Map<string, string | null>();
  /** Each task's transfer's source and destination sites, for the relay policy. */
  readonly #ends = new Map<string, Promise<{ source: string; destination: string } | undefined>>();
  /** Each site's uplink cap as last read, and its shared bucket. */
  readonly #sites = new Map<
    string,
    { at: number; mbps: Promise<number | null>; limiter?: FairRateLimiter }
  >();

  constructor(private readonly db: HubDb, private readonly sessions: Sessions) {}

  /** Drops what is remembered of a transfer's cap (after it changed). */
  forget(transferId: string): void {
    this.#limiters.delete(transferId);
  }

  /** Drops everything remembered of a transfer that has ended (its tasks given). */
  ended(transferId: string, taskIds: string[]): void {
    this.#limiters.delete(transferId);
    for (const id of taskIds) {
      this.#held.delete(id);
      this.#taskTransfer.delete(id);
    }
  }

  /** Drops what is remembered of a site's uplink cap (after it changed). */
  forgetSite(site: string): void {
    const known = this.#sites.get(site);
    if (known) known.at = -Infinity;
  }

  /**
   * What an object `fromSite` relays under `route` waits on: its site's uplink cap (shared fairly
   * between the site's jobs and routes), then its transfer's own cap, when they are set.
   */
  async limiterFor(fromSite: string, route: string | undefined): Promise<Throttle | undefined> {
    const job = route ? await this.#jobLimiter(fromSite, route) : undefined;
    const site = await this.#siteLimiter(fromSite);
    const flow = job?.transferId ?? `route:${route ?? ""}`;
    return chain(job?.limiter, site?.flow(flow));
  }

  /** The site's shared bucket when it has an uplink cap; read again after SITE_CAP_TTL_MS. */
  async #siteLimiter(site: string): Promise<FairRateLimiter | undefined> {
    let known = this.#sites.get(site);
    const now = Date.now();
    if (!known || now - known.at > SITE_CAP_TTL_MS) {
      const before = known?.limiter;
      const entry: typeof known = { at: now, mbps: Promise.resolve(null), limiter: before };
      // A failed read keeps the cap as it was (a relay is never refused for it), and is read again next time.
      entry.mbps = this.db.select({ uplinkMbps: sites.uplinkMbps }).from(sites).where(eq(sites.name, site))
        .then((rows) => rows[0]?.uplinkMbps ?? null, () => {
          entry.at = -Infinity;
          return before?.megabitsPerSecond ?? null;
        });
      known = entry;
      if (this.#sites.size > 10_000) this.#sites.clear();
      this.#sites.set(site, known);
    }
    const mbps = await known.mbps;
    if (!mbps) return known.limiter = undefined;
    if (known.limiter?.megabitsPerSecond !== mbps) known.limiter = new FairRateLimiter(mbps);
    return known.limiter;
  }

  /** The transfer of a relay route, and its own cap's bucket when it has one. */
  async #jobLimiter(
    fromSite: string,
    route: string,
  ): Promise<{ transferId: string; limiter?: RateLimiter } | undefined> {
    const taskId = /^transfer:([A-Za-z0-9_-]{1,64})$/.exec(route)?.[1];
    if (!taskId) return undefined;
    let transferId = this.#taskTransfer.get(taskId);
    if (transferId === undefined) {
      const task = await this.db.query.transferTasks.findFirst({ where: eq(transferTasks.id, taskId) });
      transferId = task?.transferId ?? null;
      if (this.#taskTransfer.size > 100_000) this.#taskTransfer.clear();
      this.#taskTransfer.set(taskId, transferId);
    }
    if (!transferId) return undefined;
    let limiter = this.#limiters.get(transferId);
    if (!limiter) {
      // One limiter per transfer, also when its first objects arrive together (8 streams at once).
      limiter = this.db.query.transfers.findFirst({ where: eq(transfers.id, transferId) })
        .then((t) =>
          t?.bandwidthMbps ? { source: t.sourceSite, limiter: new RateLimiter(t.bandwidthMbps) } : undefined
        );
      this.#limiters.set(transferId, limiter);
    }
    const found = await limiter;
    return { transferId, ...(found && found.source === fromSite ? { limiter: found.limiter } : {}) };
  }

  /**
   * The sites the transfer of a relay route (`transfer:<task>`) goes from and to, or undefined when
   * there is no such task. They never change: remembered per task, one query each.
   */
  async routeEnds(route: string): Promise<{ source: string; destination: string } | undefined> {
    const taskId = /^transfer:([A-Za-z0-9_-]{1,64})$/.exec(route)?.[1];
    if (!taskId) return undefined;
    let ends = this.#ends.get(taskId);
    if (!ends) {
      ends = this.db.query.transferTasks.findFirst({ where: eq(transferTasks.id, taskId) }).then(
        async (task) => {
          const t = task &&
            await this.db.query.transfers.findFirst({ where: eq(transfers.id, task.transferId) });
          return t ? { source: t.sourceSite, destination: t.destinationSite } : undefined;
        },
      );
      if (this.#ends.size > 100_000) this.#ends.clear();
      this.#ends.set(taskId, ends);
      // A lookup that found nothing (or failed) is asked again next time.
      ends.then((found) => found || this.#ends.delete(taskId), () => this.#ends.delete(taskId));
    }
    return await ends;
  }

  /** Tells a task's source to hold its waiting objects until the window opens (once per opening). */
  async hold(t: TransferRow, taskId: string, until: number): Promise<void> {
    if (this.#held.get(taskId) === until) return;
    try {
      await this.sessions.ask(t.sourceSite, { op: "hold", transfer: taskId, until });
      this.#held.set(taskId, until);
    } catch (err) {
      if (!(err instanceof SiteRequestError)) throw err; // told again on the next pass
    }
  }

  /** Lets a held task's objects go now (`always`: even when this process did not hold them). */
  async release(t: TransferRow, taskId: string, always = false): Promise<void> {
    if (!always && !this.#held.has(taskId)) return;
    try {
      await this.sessions.ask(t.sourceSite, { op: "hold", transfer: taskId, until: 0 });
      this.#held.delete(taskId);
    } catch (err) {
      if (!(err instanceof SiteRequestError)) throw err;
    }
  }
}
