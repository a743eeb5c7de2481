/**
 * One forward worker's association to its destination, kept open between batches: a worker that
 * claims whatever is pending when it looks gets small batches while objects trickle in (one per claim
 * when the agent forwards as fast as it receives), and opening and releasing an association per batch
 * then cost more than the objects (458 associations for 500 objects in the forward benchmark). The
 * association is reused while it is open and has an accepted context for every object of the next
 * batch, and released after `idleMs` without a batch, or when the worker stops. It is released at once
 * after a batch when another worker of the same destination is waiting for an association of its own;
 * while idle, another worker of the destination takes it over for its batch, or releases it when it
 * must open one of its own (the association does not take its objects):
 * a peer that serves one association at a time (DCMTK's storescp without --fork) would otherwise keep
 * that worker and its claimed objects waiting for as long as this one has work.
 */
import type { ScuAssociation } from "../dimse/scu.ts";
import type { ClaimedRow } from "../queue/queue.ts";

/** How long an association stays open with nothing to send. */
const ASSOCIATION_IDLE_MS = 2000;

/**
 * Shared by the workers of one destination: how many are opening an association right now, and how to
 * release at once the associations the others hold idle.
 */
export interface Contention {
  opening: number;
  idle?: Set<HeldAssociation>;
}

export class HeldAssociation {
  #scu?: ScuAssociation;
  #idle?: ReturnType<typeof setTimeout>;
  readonly #releaseNow = () => void this.release();

  constructor(
    private readonly connect: () => Promise<ScuAssociation>,
    private readonly contention: Contention = { opening: 0 },
    private readonly idleMs = ASSOCIATION_IDLE_MS,
  ) {}

  /** An open association that takes every row's SOP class in its stored syntax; opens one if needed. */
  async for(rows: ClaimedRow[]): Promise<ScuAssociation> {
    this.#busy();
    const usable = (scu?: ScuAssociation): scu is ScuAssociation =>
      !!scu?.isOpen && rows.every((r) => scu.accepts(r.sopClassUid, r.transferSyntaxUid));
    if (usable(this.#scu)) return this.#scu;
    // Another worker's association, idle and fit for these rows: taken over rather than a new one.
    for (const other of this.contention.idle ?? []) {
      const theirs = other.#scu;
      if (other === this || !usable(theirs)) continue;
      other.#busy();
      other.#scu = undefined;
      await this.release();
      this.#scu = theirs;
      return theirs;
    }
    await this.release();
    this.contention.opening++;
    // Another worker's association idling to its timeout would keep this one waiting at a peer that
    // serves one association at a time (the last object of a burst waited 2 s in the forward benchmark).
    for (const other of [...(this.contention.idle ?? [])]) void other.release();
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
    this.#busy();
    if (!this.#scu) return;
    if (this.contention.opening > 0) {
      void this.release();
      return;
    }
    this.#idle = setTimeout(this.#releaseNow, this.idleMs);
    (this.contention.idle ??= new Set()).add(this);
  }

  /** The association failed: forget it (the next batch opens a new one). */
  drop(): void {
    this.#busy();
    this.#scu?.abort();
    this.#scu = undefined;
  }

  /** No longer idle: no timer, and other workers no longer release it. */
  #busy(): void {
    clearTimeout(this.#idle);
    this.contention.idle?.delete(this);
  }

  async release(): Promise<void> {
    this.#busy();
    const scu = this.#scu;
    this.#scu = undefined;
    await scu?.release();
  }
}
