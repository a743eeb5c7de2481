/**
 * Which sites wait for which: a relay the hub refused because its destination was not connected leaves the
 * sending site waiting for it (its rows back off, up to `queue.backoffCapSeconds`). When the destination
 * connects (here, or to another hub of a cluster), only its waiters are told (`siteOnline`,
 * FEATURE_SITE_ONLINE). Until 2026-12-07 every connect told every other site connected here: at a hub's
 * restart, with N sites reconnecting, about N²/2 requests, and sites held by another hub of a cluster were
 * never told.
 *
 * Kept in memory by the hub that refused the relay, which holds the waiting site: a hub that restarts
 * forgets, and those rows go at the end of their backoff, as they did before any site was told.
 */

/** How long a site is remembered as waiting for another (a refusal renews it). */
export const WAIT_REMEMBERED_MS = 24 * 3600_000;
/** At most this many (destination, waiter) pairs are kept; beyond, the oldest are forgotten. */
export const MAX_WAITS = 100_000;

export class SiteWaiters {
  /** destination site -> waiting site -> when it was last refused. */
  readonly #waits = new Map<string, Map<string, number>>();
  #count = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** `waiter`'s relay to `site` was refused: `site` was not connected. */
  wait(site: string, waiter: string): void {
    let waiters = this.#waits.get(site);
    if (!waiters) this.#waits.set(site, waiters = new Map());
    if (!waiters.has(waiter)) this.#count++;
    else waiters.delete(waiter); // re-inserted last: the oldest stay first
    waiters.set(waiter, this.now());
    if (this.#count > MAX_WAITS) this.#forgetOldest();
  }

  /** The sites waiting for `site` (remembered within WAIT_REMEMBERED_MS), forgotten as they are returned. */
  take(site: string): string[] {
    const waiters = this.#waits.get(site);
    if (!waiters) return [];
    this.#waits.delete(site);
    this.#count -= waiters.size;
    const since = this.now() - WAIT_REMEMBERED_MS;
    return [...waiters].filter(([, at]) => at >= since).map(([w]) => w);
  }

  /** The sites someone waits for. */
  waited(): string[] {
    return [...this.#waits.keys()];
  }

  /** How many (destination, waiter) pairs are remembered. */
  get size(): number {
    return this.#count;
  }

  /** Forgets the pairs older than WAIT_REMEMBERED_MS, and the oldest beyond MAX_WAITS. */
  #forgetOldest(): void {
    const since = this.now() - WAIT_REMEMBERED_MS;
    for (const [site, waiters] of this.#waits) {
      for (const [w, at] of waiters) {
        if (at >= since && this.#count <= MAX_WAITS) break;
        waiters.delete(w);
        this.#count--;
      }
      if (waiters.size === 0) this.#waits.delete(site);
    }
  }
}
