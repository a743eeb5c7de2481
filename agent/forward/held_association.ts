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
 * that worker and its claimed objects waiting for as long as this one has work. Such a peer is learned
 * (an association opened beside a busy one came up only once that one was released): its workers then
 * wait for the busy association and take it over, taking turns on one association instead of opening
 * one per batch (10-12 for 500 objects forwarded faster than storescp took them, bench forward).
 */
import type { ScuAssociation } from "../dimse/scu.ts";
import type { ClaimedRow } from "../queue/rows.ts";

/** How long an association stays open with nothing to send. */
const ASSOCIATION_IDLE_MS = 2000;
/** How long what was learned of a destination's associations holds before it is tried again. */
const SERIAL_FOR_MS = 10 * 60_000;
/** Longest wait for a sibling's association to fall idle before opening one anyway. */
const TAKEOVER_WAIT_MS = 30_000;

/**
 * Shared by the workers of one destination: how many are opening an association right now, how to
 * release at once the associations the others hold idle, and whether the destination was seen to serve
 * one association at a time.
 */
export interface Contention {
  opening: number;
  idle?: Set<HeldAssociation>;
  /** Every worker's holder (to see who holds an open association). */
  holders?: Set<HeldAssociation>;
  /**
   * Until when (a monotonic instant, performance.now(): a wall clock stepped forward must not end the lesson,
   * nor one stepped back stretch it) the destination counts as serving one association at a time: an
   * association opened while a sibling's was busy came up only once that one had been released.
   */
  serialUntil?: number;
  /** Workers waiting for a sibling's association to fall idle (serial destinations). */
  waiting?: Set<() => void>;
}

export class HeldAssociation {
  #scu?: ScuAssociation;
  /** The association being opened, until it is up or has failed. */
  #opening?: ScuAssociation;
  #idle?: ReturnType<typeof setTimeout>;
  readonly #releaseNow = () => void this.release();

  constructor(
    private readonly connect: () => Promise<ScuAssociation>,
    private readonly contention: Contention = { opening: 0 },
    private readonly idleMs = ASSOCIATION_IDLE_MS,
    private readonly takeoverWaitMs = TAKEOVER_WAIT_MS,
    /** Also propose Storage Commitment as its SCU (nodes with `storageCommitment`). */
    private readonly commitmentRequest = false,
  ) {
    (contention.holders ??= new Set()).add(this);
  }

  /**
   * An open association that takes every row's SOP class in its stored syntax (or, for the little endian
   * uncompressed syntaxes, the other one: _reencode.ts); opens one if needed.
   */
  async for(rows: ClaimedRow[]): Promise<ScuAssociation> {
    this.#busy();
    const usable = (scu?: ScuAssociation): scu is ScuAssociation =>
      !!scu?.isOpen && rows.every((r) => scu.sendSyntax(r.sopClassUid, r.transferSyntaxUid) !== undefined);
    if (usable(this.#scu)) return this.#scu;
    for (;;) {
      // Another worker's association, idle and fit for these rows: taken over rather than a new one.
      for (const other of this.contention.idle ?? []) {
        const theirs = other.#scu;
        if (other === this || !usable(theirs)) continue;
        // Handed over before anything is awaited: a sibling looking meanwhile sees it held, not gone.
        other.#busy();
        other.#scu = undefined;
        // Its own that does not fit these rows, if any (`usable` false does not mean none, whatever
        // TypeScript narrows it to).
        const mine = this.#scu as ScuAssociation | undefined;
        this.#scu = theirs;
        if (mine) {
          this.#wakeWaiting();
          await mine.release();
        }
        return theirs;
      }
      // At a destination that serves one association at a time, a new one would only come up once the
      // busy one (or the one a sibling is opening) is released, and the next batch would open yet
      // another: wait for it to fall idle and take it over.
      const taken = this.#siblingBusy() || this.contention.opening > 0;
      if (!this.#serial() || !taken || !(await this.#waitForIdle())) break;
    }
    await this.release();
    this.contention.opening++;
    // Another worker's association idling to its timeout would keep this one waiting at a peer that
    // serves one association at a time (the last object of a burst waited 2 s in the forward benchmark).
    for (const other of [...(this.contention.idle ?? [])]) void other.release();
    const busyAtStart = this.#openSiblings();
    try {
      const scu = this.#opening = await this.connect();
      await scu.open({
        storage: rows.map((r) => ({ sopClassUid: r.sopClassUid, transferSyntax: r.transferSyntaxUid })),
        commitmentRequest: this.commitmentRequest,
      });
      this.#scu = scu;
      if (busyAtStart.length) {
        // Opened beside a sibling's association: the destination serves several at once. Opened only
        // once every one of them had been released: it serves one at a time (for a while).
        const beside = busyAtStart.some(([holder, scu]) => holder.#scu === scu && scu.isOpen);
        this.contention.serialUntil = beside ? undefined : performance.now() + SERIAL_FOR_MS;
      }
      return scu;
    } finally {
      this.#opening = undefined;
      this.contention.opening--;
      // Whoever waits for this one looks again: it is now busy (wait on), or it failed (open their own).
      this.#wakeWaiting();
    }
  }

  #serial(): boolean {
    const until = this.contention.serialUntil;
    return until !== undefined && performance.now() < until;
  }

  /** Siblings holding an open association, with it. */
  #openSiblings(): [HeldAssociation, ScuAssociation][] {
    const open: [HeldAssociation, ScuAssociation][] = [];
    for (const h of this.contention.holders ?? []) if (h !== this && h.#scu?.isOpen) open.push([h, h.#scu]);
    return open;
  }

  /** A sibling holds an open association that is carrying a batch (not idle). */
  #siblingBusy(): boolean {
    return this.#openSiblings().some(([h]) => !this.contention.idle?.has(h));
  }

  /**
   * Resolves true once a sibling's association fell idle, was released or dropped, or a sibling's open
   * ended; false after the longest wait.
   */
  #waitForIdle(): Promise<boolean> {
    const waiting = (this.contention.waiting ??= new Set());
    return new Promise((resolve) => {
      const done = (result: boolean) => {
        clearTimeout(timer);
        waiting.delete(wake);
        resolve(result);
      };
      const wake = () => done(true);
      const timer = setTimeout(() => done(false), this.takeoverWaitMs);
      waiting.add(wake);
    });
  }

  /** Wakes the workers waiting for an association to fall idle (serial destinations). */
  #wakeWaiting(): void {
    for (const wake of [...(this.contention.waiting ?? [])]) wake();
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
    this.#wakeWaiting();
  }

  /** The association failed: forget it (the next batch opens a new one). */
  drop(): void {
    this.#busy();
    this.#scu?.abort();
    this.#scu = undefined;
    this.#wakeWaiting();
  }

  /**
   * The agent stops and cannot wait any longer: aborts the association being opened or used at once, so
   * whatever waits for it (a negotiation, a C-STORE response) fails now instead of at its time limit.
   */
  abort(): void {
    this.#opening?.abort();
    this.drop();
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
    if (scu) this.#wakeWaiting();
    await scu?.release();
  }
}
