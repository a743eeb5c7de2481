/**
 * When and how fast a transfer moves data: its time window (hub/transfers/window.ts), its bandwidth
 * cap, its source site's uplink cap and its destination site's downlink cap (hub/transfers/bandwidth.ts).
 * Outside the window the hub dispatches none of the job's studies and tells each source to hold what it
 * has queued until the window opens (the `hold` request, which the agent keeps in its queue rows, so it
 * outlives a restart of either side); the cap is applied to the job's objects where they cross the hub.
 * A site's uplink cap applies to everything the hub relays from that site (transfers and routes alike),
 * its downlink cap to everything the hub relays to it (from any site), each shared fairly between the
 * flows (jobs, routes) that use it; a job's own cap comes on top (the lowest wins: a relay waits on each
 * in turn). In a cluster the downlink cap is applied by the hub holding the destination (downlinkFor), to
 * relays into it from its own sources and those other hubs carry to it alike.
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

/** How long a site's caps are trusted before they are read again (another hub may have changed them). */
const SITE_CAP_TTL_MS = 5000;

/** A site's caps as last read (Mbit/s, null: none), and the shared bucket of each direction capped. */
interface SiteCaps {
  at: number;
  mbps: Promise<{ up: number | null; down: number | null }>;
  up?: FairRateLimiter;
  down?: FairRateLimiter;
}

export class Scheduler {
  /** Tasks told to hold at their source: the time they were told (their window's opening), and their job. */
  readonly #held = new Map<string, { until: number; transferId: string }>();
  /** Bandwidth limiters by transfer, and which transfer each relayed task belongs to. */
  readonly #limiters = new Map<string, Promise<{ source: string; limiter: RateLimiter } | undefined>>();
  readonly #taskTransfer = new Map<string, string | null>();
  /** Each task's transfer's source and destination sites, for the relay policy. */
  readonly #ends = new Map<string, Promise<{ source: string; destination: string } | undefined>>();
  /** Each site's uplink and downlink caps as last read, and their shared buckets. */
  readonly #sites = new Map<string, SiteCaps>();

  constructor(private readonly db: HubDb, private readonly sessions: Sessions) {}

  /** Drops what is remembered of a transfer's cap (after it changed). */
  forget(transferId: string): void {
    this.#limiters.delete(transferId);
  }

  /**
   * Drops everything remembered of a transfer that has ended: its tasks held (found by their job), and
   * the tasks given (those the caller read; an ending job need not read every one of its tasks).
   */
  ended(transferId: string, taskIds: string[]): void {
    this.#limiters.delete(transferId);
    for (const [id, held] of this.#held) if (held.transferId === transferId) this.#held.delete(id);
    for (const id of taskIds) {
      this.#held.delete(id);
      this.#taskTransfer.delete(id);
    }
  }

  /** Drops what is remembered of a site's caps (after one changed). */
  forgetSite(site: string): void {
    const known = this.#sites.get(site);
    if (known) known.at = -Infinity;
  }

  /**
   * What an object `fromSite` relays to `toSite` under `route` waits on, in turn: its transfer's own
   * cap, `fromSite`'s uplink cap (shared fairly between the jobs and routes it relays) and `toSite`'s
   * downlink cap (shared fairly between the jobs and routes relaying to it, from any site), when set.
   * `toSite` absent: the uplink alone (a caller from before downlink caps).
   */
  async limiterFor(
    fromSite: string,
    route: string | undefined,
    toSite?: string,
  ): Promise<Throttle | undefined> {
    const job = route ? await this.#jobLimiter(fromSite, route) : undefined;
    const [up, down] = await Promise.all([
      this.#siteLimiter(fromSite, "up"),
      toSite === undefined ? undefined : this.#siteLimiter(toSite, "down"),
    ]);
    // A flow: the job, or else the route of the site relaying (two sites may name a route alike).
    const flow = job?.transferId ?? `route:${route ?? ""}`;
    return chain(job?.limiter, up?.flow(flow), down?.flow(job?.transferId ?? `${fromSite}/${flow}`));
  }

  /**
   * `toSite`'s downlink cap alone for an object `fromSite` relays to it under `route`, in the same line as
   * limiterFor gives the flow: what the hub holding `toSite` applies to a relay another hub of a cluster
   * carries to it (that hub applies the job's cap and `fromSite`'s uplink cap), so that every relay into
   * the site, whichever hub its source is connected to, shares the one bucket.
   */
  async downlinkFor(
    fromSite: string,
    route: string | undefined,
    toSite: string,
  ): Promise<Throttle | undefined> {
    const down = await this.#siteLimiter(toSite, "down");
    if (!down) return undefined;
    const transferId = route ? await this.#transferOf(route) : undefined;
    return down.flow(transferId ?? `${fromSite}/route:${route ?? ""}`);
  }

  /** The transfer a relay route (`transfer:<task>`) belongs to, or undefined; remembered per task. */
  async #transferOf(route: string): Promise<string | undefined> {
    const taskId = /^transfer:([A-Za-z0-9_-]{1,64})$/.exec(route)?.[1];
    if (!taskId) return undefined;
    let transferId = this.#taskTransfer.get(taskId);
    if (transferId === undefined) {
      const task = await this.db.query.transferTasks.findFirst({ where: eq(transferTasks.id, taskId) });
      transferId = task?.transferId ?? null;
      if (this.#taskTransfer.size > 100_000) this.#taskTransfer.clear();
      this.#taskTransfer.set(taskId, transferId);
    }
    return transferId ?? undefined;
  }

  /** The site's shared bucket for one direction when it has a cap there; read again after SITE_CAP_TTL_MS. */
  async #siteLimiter(site: string, way: "up" | "down"): Promise<FairRateLimiter | undefined> {
    let known = this.#sites.get(site);
    const now = Date.now();
    if (!known || now - known.at > SITE_CAP_TTL_MS) {
      const before = known;
      const entry: SiteCaps = {
        at: now,
        mbps: Promise.resolve({ up: null, down: null }),
        up: before?.up,
        down: before?.down,
      };
      // A failed read keeps the caps as they were (a relay is never refused for it), and is read again next time.
      entry.mbps = this.db.select({ up: sites.uplinkMbps, down: sites.downlinkMbps }).from(sites)
        .where(eq(sites.name, site))
        .then((rows) => ({ up: rows[0]?.up ?? null, down: rows[0]?.down ?? null }), () => {
          entry.at = -Infinity;
          return { up: before?.up?.megabitsPerSecond ?? null, down: before?.down?.megabitsPerSecond ?? null };
        });
      known = entry;
      if (this.#sites.size > 10_000) this.#sites.clear();
      this.#sites.set(site, known);
    }
    const mbps = (await known.mbps)[way];
    if (!mbps) return known[way] = undefined;
    if (known[way]?.megabitsPerSecond !== mbps) known[way] = new FairRateLimiter(mbps);
    return known[way];
  }

  /** The transfer of a relay route, and its own cap's bucket when it has one. */
  async #jobLimiter(
    fromSite: string,
    route: string,
  ): Promise<{ transferId: string; limiter?: RateLimiter } | undefined> {
    const transferId = await this.#transferOf(route);
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
    if (this.#held.get(taskId)?.until === until) return;
    try {
      await this.sessions.ask(t.sourceSite, { op: "hold", transfer: taskId, until });
      this.#held.set(taskId, { until, transferId: t.id });
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
