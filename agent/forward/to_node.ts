/**
 * A batch to a configured node: C-STOREs over the worker's held association, up to the window the node
 * granted at once. A row is done only when the node answered Success (or a warning); at a node that asks for
 * Storage Commitment, stored rows wait for its report instead.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { isWarning, Status } from "../dimse/handlers.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import { NoContextAcceptedError } from "../dimse/scu_errors.ts";
import { archived } from "../archive/archive.ts";
import { claimedObject, type ClaimedRow } from "../queue/rows.ts";
import type { HeldAssociation } from "./held_association.ts";
import { type BatchContext, failedAll, type Failure, failure, record } from "./batch.ts";

export async function sendToNode(
  b: BatchContext,
  destination: string,
  held: HeldAssociation,
  rows: ClaimedRow[],
  log: Logger,
): Promise<void> {
  let scu: ScuAssociation;
  try {
    scu = await held.for(rows);
  } catch (err) {
    if (b.aborted()) {
      // Aborted by stop(): not the destination's failure.
      b.queue.release(rows.map((row) => row.id));
      return;
    }
    if (err instanceof NoContextAcceptedError) {
      // Reachable, but it takes none of these SOP classes in these syntaxes: that will not change
      // by itself (0x0122, permanent unless configured otherwise).
      log.warn("destination accepts none of the SOP classes offered", { rows: rows.length });
      failedAll(b, rows, Status.SopClassNotSupported, (err as Error).message, destination);
      return;
    }
    // The destination is down or refuses us: every row waits, each by its own backoff, all recorded in
    // one synced write (one flush per attempt, not one per row, while the node is down).
    log.warn("cannot open an association", { reason: (err as Error).message, rows: rows.length });
    failedAll(b, rows, null, (err as Error).message, destination);
    return;
  }
  // Up to the window the node granted (1 without one) C-STOREs are outstanding at once; they go out
  // one after the other, in the rows' order, and each row is settled by its own response.
  let next = 0;
  let lost = false;
  // At a node that commits, stored rows wait for its Storage Commitment report instead of being done.
  const commits = b.commitments()?.node(destination) ? b.commitments() : undefined;
  const stored: { row: ClaimedRow; status: number }[] = [];
  // C-STOREs that failed, recorded together when the batch ends (one synced write, not one per row).
  const failures: Failure[] = [];
  const sendNext = async (): Promise<void> => {
    while (next < rows.length && !lost) {
      if (!b.running() || b.queue.isPaused(destination)) return;
      const row = rows[next++];
      if (b.queue.canceledSinceClaim(row)) {
        b.queue.release(row.id); // dead, canceled
        continue;
      }
      let status: number | null;
      let error = "";
      try {
        status = await scu.store(archived(b.archive, claimedObject(row)));
      } catch (err) {
        if (b.aborted()) {
          // Aborted by stop() while waiting for the response: sent again at the next start.
          b.queue.release(row.id);
          lost = true;
          return;
        }
        // Erased while it waited (its file and its row gone): not a failure of the destination, nor
        // counted as one (until 2026-12-08 an attempt failed with status "association", QA 36b).
        if ((err as { missing?: boolean }).missing && b.queue.removedSinceClaim(row)) {
          log.info("object erased while queued: not sent", { sop: hashUid(row.sopInstanceUid) });
          continue;
        }
        status = null;
        error = (err as Error).message;
      }
      if (status === Status.Success || (status !== null && isWarning(status))) {
        b.onEvent({ type: "attempt", destination, status, outcome: "done" });
        b.reached(destination);
        if (commits) {
          stored.push({ row, status });
          continue;
        }
        b.done.add(row.id, status);
        b.onEvent({ type: "delivered", destination, latencyMs: Date.now() - row.createdAt });
        continue;
      }
      if (status === Status.SopClassNotSupported && !error) {
        error = "the destination accepted no context for this SOP class and syntax";
      }
      failures.push(
        failure(b, row, status, error || `status 0x${status!.toString(16).padStart(4, "0")}`),
      );
      log.warn("forward attempt failed", {
        sop: hashUid(row.sopInstanceUid),
        status,
        reason: error || undefined,
      });
      if (status === null && !lost) {
        // The association is gone: rows not yet sent go back as they were.
        lost = true;
        held.drop();
      }
    }
  };
  try {
    try {
      await Promise.all(Array.from({ length: Math.min(scu.window, rows.length) }, sendNext));
    } finally {
      record(b, failures, destination);
    }
    b.queue.release(rows.slice(next).map((rest) => rest.id));
    if (commits && stored.length) await commits.request(destination, scu, stored);
  } finally {
    held.idle();
  }
}
