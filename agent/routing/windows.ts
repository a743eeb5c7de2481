/**
 * Routes that forward only in their time window (`routes[].window`, as dcm4chee's export schedules): outside
 * it an object the route takes is archived and queued at once, its rows held until the next opening
 * (`notBefore`, rules.ts); this keeps the rows of each windowed route held while the window is closed (a
 * window that closes finds rows due now: they wait for the next opening) and releases them when it opens,
 * every `EVERY_MS` and at once after a reload. Objects already with a forward worker when the window closes
 * finish (at most one batch per worker). The clock is the agent's, in the window's zone (the host's when none
 * is named).
 */
import type { Logger } from "@conduit/shared/log";
import { isOpen, nextOpening, type Windows } from "@conduit/shared/transfer-window";
import type { Queue } from "../queue/queue.ts";
import type { CompiledRoute } from "./rules.ts";

/** How often the windows are looked at. */
export const EVERY_MS = 10_000;

export class RouteWindows {
  #routes: CompiledRoute[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly log: Logger,
    /** Rows released: their destinations' workers are woken. */
    private readonly released: () => void,
  ) {
    queue.onRequeued = (now) => this.tick(now);
  }

  /**
   * The routes in force (at start, and after each reload), looked at at once. Rows held by a window that is
   * gone (the route's window or the route removed) are released (until 2026-12-08 they waited for the old
   * opening, up to a week; QA 36b).
   */
  set(routes: CompiledRoute[], now = Date.now()): void {
    this.#routes = routes.filter((r) => r.window);
    let released = 0;
    try {
      released = this.queue.releaseUnwindowed(this.#routes.map((r) => r.name), now);
      if (released) {
        this.log.info("route window: rows held by a window no longer configured released", {
          rows: released,
        });
      }
    } catch (err) {
      this.log.warn("route window: could not release the rows of windows removed", {
        reason: (err as Error).message,
      });
    }
    this.tick(now);
    if (released) this.released();
    if (this.#routes.length && !this.#timer) {
      this.#timer = setInterval(() => this.tick(), EVERY_MS);
      Deno.unrefTimer(this.#timer);
    } else if (!this.#routes.length && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Holds the rows of the routes whose window is closed until it opens; releases those of the open ones. */
  tick(now = Date.now()): void {
    let released = 0;
    for (const r of this.#routes) {
      try {
        if (isOpen(r.window!, now)) released += this.queue.holdRoute(r.name, 0, now);
        else this.queue.holdRoute(r.name, nextOpening(r.window!, now), now);
      } catch (err) {
        this.log.warn("route window: could not hold or release its rows", {
          route: r.name,
          reason: (err as Error).message,
        });
      }
    }
    if (released) this.released();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** A route's window as it stands now, for check and route test: open now, or closed until when (empty without one). */
export function windowState(r: { window?: Windows }, now = Date.now()): string {
  if (!r.window) return "";
  return isOpen(r.window, now)
    ? "; window open now"
    : `; window closed: what it takes waits until ${new Date(nextOpening(r.window, now)).toISOString()}`;
}
