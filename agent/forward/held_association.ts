/**
 * One forward worker's association to its destination, kept open between batches: a worker that
 * claims whatever is pending when it looks gets small batches while objects trickle in (one per claim
 * when the agent forwards as fast as it receives), and opening and releasing an association per batch
 * then cost more than the objects (458 associations for 500 objects in the forward benchmark). The
 * association is reused while it is open and has an accepted context for every object of the next
 * batch, and released after `idleMs` without a batch, or when the worker stops. It is released at once
 * after a batch when another worker of the same destination is waiting for an association of its own:
 * a peer that serves one association at a time (DCMTK's storescp without --fork) would otherwise keep
 * that worker and its claimed objects waiting for as long as this one has work.
 */
import type { ScuAssociation } from "../dimse/scu.ts";
import type { ClaimedRow } from "../queue/queue.ts";

/** How long an association stays open with nothing to send. */
const ASSOCIATION_IDLE_MS = 2000;

/** Shared by the workers of one destination: how many are opening an association right now. */
export interface Contention {
  opening: number;
}

export class HeldAssociation {
  #scu?: ScuAssociation;
  #idle?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly connect: () => Promise<ScuAssociation>,
    private readonly contention: Contention = { opening: 0 },
    private readonly idleMs = ASSOCIATION_IDLE_MS,
  ) {}

  /** An open association that takes every row's SOP class in its stored syntax; opens one if needed. */
  async for(rows: ClaimedRow[]): Promise<ScuAssociation> {
    clearTimeout(this.#idle);
    const held = this.#scu;
    if (held?.isOpen && rows.every((r) => held.accepts(r.sopClassUid, r.transferSyntaxUid))) return held;
    await this.release();
    this.contention.opening++;
    try {
      const scu = await this.connect();
      await scu.open({
        storage: rows.map((r) => ({ sopClassUid: r.sopClassUid, transferSyntax: r.transferSyntaxUid })),
      });
      this.#scu = scu;
      return scu;
    } finally {
      this.contention.opening--;
    }
  }

  /** The batch is done: keep the association for the next one, up to the idle time. */
  idle(): void {
    clearTimeout(this.#idle);
    if (!this.#scu) return;
    if (this.contention.opening > 0) {
      void this.release();
      return;
    }
    this.#idle = setTimeout(() => void this.release(), this.idleMs);
  }

  /** The association failed: forget it (the next batch opens a new one). */
  drop(): void {
    clearTimeout(this.#idle);
    this.#scu?.abort();
    this.#scu = undefined;
  }

  async release(): Promise<void> {
    clearTimeout(this.#idle);
    const scu = this.#scu;
    this.#scu = undefined;
    await scu?.release();
  }
}
