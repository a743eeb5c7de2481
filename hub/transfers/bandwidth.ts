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
