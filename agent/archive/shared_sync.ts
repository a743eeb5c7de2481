/**
 * A file or folder sync shared between callers: whoever asks while one runs waits for the next,
 * which serves all of them (the intake's folder, the archive's series folders, the index's log).
 * Fewer syncs of the same file mean fewer journal commits for the file system to order behind the
 * objects' own.
 */
export class SharedSync {
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #handle: Promise<Deno.FsFile> | undefined;
  /** How many syncs ran, and how many callers they served (metrics, tests). */
  readonly stats = { syncs: 0, callers: 0 };

  /**
   * `keepHandle`: keep the target open between syncs (then {@link close} it when done); without, each
   * sync opens and closes it.
   */
  constructor(private readonly target: string, private readonly keepHandle = true) {}

  /** No sync is running or waiting to run. */
  get idle(): boolean {
    return !this.#running && !this.#next;
  }

  /** Resolves once a sync that began after this call has finished. */
  sync(): Promise<void> {
    this.stats.callers++;
    if (!this.#running) return this.#start();
    // The running sync began before this caller's change: wait for the next one, shared with others.
    this.#next ??= this.#running.then(() => {
      this.#next = undefined;
      return this.#start();
    }, () => {
      this.#next = undefined;
      return this.#start();
    });
    return this.#next;
  }

  #start(): Promise<void> {
    this.stats.syncs++;
    const run = this.#syncOnce().finally(() => {
      if (this.#running === run) this.#running = undefined;
    });
    this.#running = run;
    return run;
  }

  /**
   * One fsync, through a handle kept open between syncs when asked (an open and a close less on the way
   * to each Success); a kept handle that fails is closed and the next sync opens a fresh one.
   */
  async #syncOnce(): Promise<void> {
    if (!this.keepHandle) {
      const file = await Deno.open(this.target, { read: true });
      try {
        await file.sync();
      } finally {
        file.close();
      }
      return;
    }
    this.#handle ??= Deno.open(this.target, { read: true });
    const handle = this.#handle;
    try {
      await (await handle).sync();
    } catch (err) {
      if (this.#handle === handle) this.#handle = undefined;
      handle.then((h) => h.close()).catch(() => {});
      throw err;
    }
  }

  /** Closes the kept handle (the agent stops). */
  async close(): Promise<void> {
    const handle = this.#handle;
    this.#handle = undefined;
    (await handle?.catch(() => undefined))?.close();
  }
}
