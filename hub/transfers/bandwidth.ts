/**
 * A transfer's bandwidth cap, applied where its objects cross the hub (the relay from the source
 * site to the destination site): a token bucket in bytes, shared by every object of the job in
 * flight. The relay waits for tokens before passing bytes on, so the tunnel's flow control slows the
 * source itself: nothing piles up at the hub.
 */

export class RateLimiter {
  readonly #bytesPerSecond: number;
  readonly #burst: number;
  #tokens: number;
  #at: number;
  #queue: Promise<void> = Promise.resolve();

  /** `megabitsPerSecond` as people quote links; a burst of a quarter second's worth. */
  constructor(megabitsPerSecond: number, private readonly now: () => number = () => performance.now()) {
    this.#bytesPerSecond = (megabitsPerSecond * 1_000_000) / 8;
    this.#burst = Math.max(64 * 1024, this.#bytesPerSecond / 4);
    this.#tokens = this.#burst;
    this.#at = this.now();
  }

  get megabitsPerSecond(): number {
    return (this.#bytesPerSecond * 8) / 1_000_000;
  }

  /** Resolves once `bytes` may pass; callers are served in turn. */
  take(bytes: number, signal?: AbortSignal): Promise<void> {
    const turn = this.#queue.then(() => this.#wait(bytes, signal));
    this.#queue = turn.catch(() => {});
    return turn;
  }

  async #wait(bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const t = this.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((t - this.#at) / 1000) * this.#bytesPerSecond);
    this.#at = t;
    this.#tokens -= bytes;
    if (this.#tokens >= 0) return;
    const ms = (-this.#tokens / this.#bytesPerSecond) * 1000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
  }
}

/** What the relay waits on before passing bytes on: one bucket, or several in turn. */
export interface Throttle {
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

/**
 * A site's uplink or downlink cap, shared fairly by everything the hub relays from (or to) the site at
 * once: each flow (a transfer job, a route) waits in its own line, and the lines are served in turn, one
 * chunk each, so a job with eight objects in flight gets no more of the site than a job with one. Within
 * a line, chunks go in order.
 */
export class FairRateLimiter {
  readonly #limiter: RateLimiter;
  readonly #lines = new Map<string, { bytes: number; signal?: AbortSignal; go: (err?: unknown) => void }[]>();
  #serving = false;

  /** `megabitsPerSecond` as given: compared with the cap when it is read again. */
  constructor(readonly megabitsPerSecond: number, now?: () => number) {
    this.#limiter = new RateLimiter(megabitsPerSecond, now);
  }

  /** The throttle of one flow. */
  flow(key: string): Throttle {
    return { take: (bytes, signal) => this.#take(key, bytes, signal) };
  }

  #take(key: string, bytes: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    return new Promise<void>((resolve, reject) => {
      let line = this.#lines.get(key);
      if (!line) this.#lines.set(key, line = []);
      line.push({ bytes, signal, go: (err) => err === undefined ? resolve() : reject(err) });
      void this.#serve();
    });
  }

  async #serve(): Promise<void> {
    if (this.#serving) return;
    this.#serving = true;
    try {
      while (this.#lines.size > 0) {
        // One chunk of each line in turn (a Map iterates in insertion order: a line served goes last).
        const [key, line] = this.#lines.entries().next().value!;
        const next = line.shift()!;
        this.#lines.delete(key);
        if (line.length > 0) this.#lines.set(key, line);
        if (next.signal?.aborted) {
          next.go(next.signal.reason);
          continue;
        }
        try {
          await this.#limiter.take(next.bytes, next.signal);
          next.go();
        } catch (err) {
          next.go(err);
        }
      }
    } finally {
      this.#serving = false;
    }
  }
}

/** Waits on each throttle in turn: the slowest (the lowest cap) sets the pace. */
export function chain(...throttles: (Throttle | undefined)[]): Throttle | undefined {
  const list = throttles.filter((t): t is Throttle => t !== undefined);
  if (list.length <= 1) return list[0];
  return {
    take: async (bytes, signal) => {
      for (const t of list) await t.take(bytes, signal);
    },
  };
}
