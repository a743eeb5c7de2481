/**
 * Receive buffers used again (issue 16: allocate less rather than force collections). A connection reads
 * into a buffer from its pool; every PDU cut from that buffer holds it until the PDU has been processed,
 * and the last release gives the buffer back. The rule for whoever processes a PDU: its bytes are valid
 * until its release; what must outlive that is copied (commands, what the library keeps, a data set
 * fragment that has to wait for its file: `StoreFileStream`).
 */

/**
 * Free buffers shared by the pools of every connection: a new connection takes its first buffers from
 * here instead of allocating (and zeroing) them, and an ended one leaves its free buffers here. A site
 * whose modalities open one association per image otherwise allocated 0.5 MB or more per image.
 */
export class Spares {
  #free: Uint8Array[] = [];

  /** `max`: how many free buffers are kept. */
  constructor(readonly max: number) {}

  /** A free buffer of at least `min` bytes, if one is kept. */
  take(min: number): Uint8Array | undefined {
    for (let i = this.#free.length - 1; i >= 0; i--) {
      if (this.#free[i].length >= min) return this.#free.splice(i, 1)[0];
    }
    return undefined;
  }

  give(b: Uint8Array): void {
    if (this.#free.length < this.max) this.#free.push(b);
  }

  /** Free buffers kept now (tests). */
  get free(): number {
    return this.#free.length;
  }
}

/** The spares of every connection's receive buffers (256 KiB each, about 2 MB kept at most). */
export const receiveSpares = new Spares(8);

/** Free buffers of one connection. */
export class BufferPool {
  #free: Uint8Array[] = [];
  #closed = false;

  /**
   * `size`: the least size of a new buffer; `max`: how many free buffers are kept; `spares`: where
   * buffers come from before new ones are made, and go once the pool is closed.
   */
  constructor(readonly size: number, readonly max: number, private readonly spares?: Spares) {}

  /** A free buffer of at least `min` bytes (and of the pool's size at least), or a new one. */
  take(min = this.size): Uint8Array {
    while (this.#free.length) {
      const b = this.#free.pop()!;
      if (b.length >= min) return b;
    }
    const want = Math.max(min, this.size);
    return this.spares?.take(want) ?? new Uint8Array(want);
  }

  give(b: Uint8Array): void {
    if (this.#closed) this.spares?.give(b);
    else if (this.#free.length < this.max) this.#free.push(b);
  }

  /** The connection ended: free buffers, and those given back later, go to the spares. */
  close(): void {
    this.#closed = true;
    for (const b of this.#free) this.spares?.give(b);
    this.#free = [];
  }

  /** Free buffers held now (tests). */
  get free(): number {
    return this.#free.length;
  }
}

/** A buffer out of a pool, given back when its last holder releases it. */
export class Lease {
  #holders = 0;

  constructor(readonly bytes: Uint8Array, private readonly pool: BufferPool) {}

  /** One more holder; the function returned releases this hold, once (further calls do nothing). */
  hold(): () => void {
    this.#holders++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.#holders === 0) this.pool.give(this.bytes);
    };
  }
}

/** A release that has nothing to give back. */
export const NO_RELEASE = (): void => {};
