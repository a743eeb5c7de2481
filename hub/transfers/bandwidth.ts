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
 * once: each flow (a transfer job, a route) waits in its own line, and the line that has passed the fewest
 * bytes goes next, one chunk at a time (the lines in turn when even), so a job with eight objects in flight
 * gets no more of the site than a job with one, and a flow whose chunks are larger (an agent's 256 KiB
 * frames, against the 64 KiB of a relay another hub of a cluster carries) no more than one with smaller. A
 * line that starts (or starts again after it emptied) counts from the fewest bytes of the lines waiting,
 * not from zero. Within a line, chunks go in order.
 */
export class FairRateLimiter {
  readonly #limiter: RateLimiter;
  readonly #lines = new Map<
    string,
    { served: number; chunks: { bytes: number; signal?: AbortSignal; go: (err?: unknown) => void }[] }
  >();
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
      if (!line) this.#lines.set(key, line = { served: this.#fewest()?.served ?? 0, chunks: [] });
      line.chunks.push({ bytes, signal, go: (err) => err === undefined ? resolve() : reject(err) });
      void this.#serve();
    });
  }

  /** The line that has passed the fewest bytes; the first of them in turn (a Map keeps insertion order). */
  #fewest() {
    let fewest: { key: string; line: { served: number; chunks: unknown[] } } | undefined;
    for (const [key, line] of this.#lines) {
      if (!fewest || line.served < fewest.line.served) fewest = { key, line };
    }
    return fewest && { key: fewest.key, served: fewest.line.served };
  }

  async #serve(): Promise<void> {
    if (this.#serving) return;
    this.#serving = true;
    try {
      while (this.#lines.size > 0) {
        const key = this.#fewest()!.key;
        const line = this.#lines.get(key)!;
        const next = line.chunks.shift()!;
        line.served += next.bytes;
        // A line served goes last (among lines even in bytes, the next goes first), or away once empty.
        this.#lines.delete(key);
        if (line.chunks.length > 0) this.#lines.set(key, line);
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
