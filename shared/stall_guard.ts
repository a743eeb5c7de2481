/**
 * For a periodic check whose verdict waits on an answer over I/O (a tunnel's heartbeat, the database's health
 * probe): whether this check may judge, or comes right after this process's event loop was held (a long
 * synchronous call, a machine out of CPU). After such a stall the timers run before the sockets are read
 * (measured with Deno's WebSocket and node:net), so an answer that came meanwhile is not taken yet: a check
 * that comes more than two periods after the one before it, and every check for one period after it, judges
 * nothing. A dead peer is still found, at most one period later after a stall.
 */
export class StallGuard {
  #checkedAt: number;
  #judgeFrom = 0;

  constructor(readonly periodMs: number, now = performance.now()) {
    this.#checkedAt = now;
  }

  /** Called at each check (every `periodMs`): false while no peer may be judged. */
  mayJudge(now = performance.now()): boolean {
    if (now - this.#checkedAt > 2 * this.periodMs) this.#judgeFrom = now + this.periodMs;
    this.#checkedAt = now;
    return now >= this.#judgeFrom;
  }
}
