/** A number of places that work takes in turn: at most `size` runs at once, the others wait, first come first served. */
export class Slots {
  #free: number;
  #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  /** Works waiting for a place now. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** `work` once a place is free; the place is given back when it settles, whatever its outcome. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
