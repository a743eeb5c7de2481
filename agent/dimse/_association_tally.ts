/**
 * What one accepted association did, for the `association ended` log line: objects stored (Success or a
 * warning) and refused, their bytes, and the queries, retrievals and Storage Commitment requests answered.
 * Counts only: no UID or value of any data set.
 */
import { type AssociationEnd, type DimseEvent, isWarning } from "./handlers.ts";

export class AssociationTally {
  #stored = 0;
  #refused = 0;
  #bytes = 0;
  #operations: Record<string, number> = {};

  /** Counts an event the wire layer reports (the metrics hook's). */
  count(event: DimseEvent): void {
    if (event.type === "store") {
      if (event.status === 0 || isWarning(event.status)) {
        this.#stored++;
        this.#bytes += event.bytes;
      } else this.#refused++;
    } else if (
      event.type === "find" || event.type === "move" || event.type === "get" || event.type === "commitment"
    ) {
      this.#operations[event.type] = (this.#operations[event.type] ?? 0) + 1;
    }
  }

  /** The line's fields: how it ended, how long it lasted since `since` (ms), and the counts. */
  fields(outcome: AssociationEnd, since: number): Record<string, unknown> {
    return {
      outcome,
      seconds: Math.round((Date.now() - since) / 100) / 10,
      stored: this.#stored,
      refused: this.#refused,
      bytes: this.#bytes,
      ...this.#operations,
    };
  }
}
