/**
 * Deliveries recorded in groups: a row the destination acknowledged (a node's Success, the destination
 * site's ack through the hub) is marked done with the others acknowledged within a few milliseconds, in
 * one transaction, instead of one transaction each (each a write-ahead log append and its PRAGMA switches
 * on the event loop's thread: `Database.writeUnsynced`). Until its group commits the row stays in flight,
 * which no worker claims; a crash before then leaves it in flight, and the restart sends it again, which the
 * receiver takes idempotently (at least once, as every delivery). A row is still marked done only after its
 * destination committed it.
 */
import type { Queue } from "../queue/queue.ts";

/** How long the first acknowledgement of a group waits for others (ms). */
export const DONE_GATHER_MS = 25;
/** Rows marked in one transaction at most. */
const MAX_GROUP = 128;

export class DoneBatch {
  #ids: number[] = [];
  #statuses: number[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly onError: (err: unknown, rows: number) => void,
    private readonly gatherMs = DONE_GATHER_MS,
  ) {}

  /** Rows acknowledged and not yet marked done. */
  get pending(): number {
    return this.#ids.length;
  }

  /** Records a row acknowledged by its destination (with `status`: 0, or a warning): marked done with its group. */
  add(id: number, status = 0): void {
    this.#ids.push(id);
    this.#statuses.push(status);
    if (this.#ids.length >= MAX_GROUP) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), this.gatherMs);
  }

  /** Marks every row acknowledged so far done now (a group is full, or the forwarder stops). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#ids.length === 0) return;
    const ids = this.#ids;
    const statuses = this.#statuses;
    this.#ids = [];
    this.#statuses = [];
    try {
      this.queue.markDone(ids, Date.now(), statuses);
    } catch (err) {
      // The rows stay in flight: the next start sends them again (the receiver takes them idempotently).
      this.onError(err, ids.length);
    }
  }
}
