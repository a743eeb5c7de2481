/**
 * Objects committed before their sender is answered (those the hub sends through the tunnel) share index
 * transactions: each caller still waits until its own rows are committed and durable, but the objects
 * that finish meanwhile go together in the next transaction. A transaction commits without a flush of
 * its own, on the event loop's thread (tens of microseconds); the write-ahead log is then synced on
 * another thread (`sync`, shared: the groups committed while one sync runs share the next), so the
 * event loop, and every stream the agent is receiving, never waits for the disk.
 * A group never holds one SOP Instance UID twice: the second waits for the next group.
 */
import { setImmediate } from "node:timers";
import type { Checked } from "./checks.ts";
import type { Prepared } from "./place.ts";

type Placed = Extract<Prepared, { kind: "index" }>;

interface Waiting {
  item: Placed;
  /** True when the object's rows committed. */
  resolve: (committed: boolean) => void;
  reject: (err: unknown) => void;
}

export class SharedCommit {
  #waiting: Waiting[] = [];
  #scheduled = false;

  /**
   * `write` commits a group in one transaction (unsynced) and returns the objects whose rows did not
   * commit; `sync` makes what was committed durable.
   */
  constructor(
    private readonly write: (items: Placed[]) => Checked[],
    private readonly sync: () => Promise<void> = () => Promise.resolve(),
  ) {}

  /** Resolves true once the object's rows are committed, false when they did not commit. */
  commit(item: Placed): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#waiting.length === 0) return;
    this.#scheduled = true;
    // After the event loop's I/O: objects whose last bytes are already in the socket's buffers join this
    // group (no timer: a 0 ms timeout waits 1-3 ms on this VM, every object's acknowledgement with it).
    setImmediate(() => {
      this.#scheduled = false;
      this.#flush();
      this.#schedule();
    });
  }

  #flush(): void {
    const group: Waiting[] = [];
    const later: Waiting[] = [];
    const sops = new Set<string>();
    for (const w of this.#waiting) {
      const sop = w.item.checked.attrs.sopInstanceUid;
      if (sops.has(sop)) later.push(w);
      else {
        sops.add(sop);
        group.push(w);
      }
    }
    this.#waiting = later;
    let failed: Set<Checked>;
    try {
      failed = new Set(this.write(group.map((w) => w.item)));
    } catch (err) {
      for (const w of group) w.reject(err);
      return;
    }
    // Committed: each caller is answered once the log holding its rows is on the disk.
    this.sync().then(() => {
      for (const w of group) w.resolve(!failed.has(w.item.checked));
    }, (err) => {
      for (const w of group) w.reject(err);
    });
  }
}
