/**
 * A batch of stage rows (`deid:<route>`): each object de-identified in turn by the DeidStage; each copy
 * made is queued for the route's destinations, whose workers start and wake.
 */
import type { ClaimedRow } from "../queue/rows.ts";
import { type BatchContext, type Failure, failure, record } from "./batch.ts";

/**
 * De-identifies claimed stage rows one by one; each copy made is queued for the route's destinations. The
 * rows that failed or were held back are recorded together when the batch ends (one synced write).
 */
export async function deidentify(b: BatchContext, destination: string, rows: ClaimedRow[]): Promise<void> {
  const failures: Failure[] = [];
  // Held back by the burned-in text policy: dead at once, and not a failed attempt for the metrics.
  const held: Failure[] = [];
  try {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (!b.running() || b.queue.isPaused(destination) || !b.stage) {
        b.queue.release(rows.slice(i).map((rest) => rest.id));
        return;
      }
      const r = await b.stage.run(row);
      if (r.outcome === "done") {
        for (const d of r.destinations) {
          b.ensure(d);
          b.wake(d);
        }
      } else if (r.outcome === "held") {
        held.push({ id: row.id, outcome: { status: null, error: r.reason, dead: true, next: Date.now() } });
      } else if (r.outcome === "failed") {
        failures.push(failure(b, row, null, r.reason, r.permanent));
      }
      if (r.outcome !== "stale") b.onEvent({ type: "deid", outcome: r.outcome });
    }
  } finally {
    record(b, failures, destination, held);
  }
}
