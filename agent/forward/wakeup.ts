/** How a worker waits for rows: a poll period, cut short when new rows come (Forwarder.wake). */
export class Wakeup {
  #waiters = new Set<() => void>();
  /** Resolves after `ms`, or sooner on wake(). */
  wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#waiters.add(done);
    });
  }
  wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}
