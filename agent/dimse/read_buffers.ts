/**
 * Receive buffers used again (issue 16: allocate less rather than force collections). A connection reads
 * into a buffer from its pool; every PDU cut from that buffer holds it until the PDU has been processed,
 * and the last release gives the buffer back. The rule for whoever processes a PDU: its bytes are valid
 * until its release; what must outlive that is copied (commands, what the library keeps, a data set
 * fragment that has to wait for its file: `StoreFileStream`).
 */

/** Free buffers of one connection. */
export class BufferPool {
  #free: Uint8Array[] = [];

  /** `size`: the least size of a new buffer; `max`: how many free buffers are kept. */
  constructor(readonly size: number, readonly max: number) {}

  /** A free buffer of at least `min` bytes (and of the pool's size at least), or a new one. */
  take(min = this.size): Uint8Array {
    while (this.#free.length) {
      const b = this.#free.pop()!;
      if (b.length >= min) return b;
    }
    return new Uint8Array(Math.max(min, this.size));
  }

  give(b: Uint8Array): void {
    if (this.#free.length < this.max) this.#free.push(b);
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
