/**
 * A batch to a node at another site: each object relayed through the hub on its own tunnel stream
 * (remote.ts, loaded with the first remote destination). A row is done on the destination's
 * acknowledgement; failed relays are recorded together when the batch ends.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import type { Session } from "@conduit/shared/tunnel";
import { Status } from "../dimse/handlers.ts";
import type { ClaimedRow } from "../queue/rows.ts";
import type { ComputedHash } from "../index/instances.ts";
import { loadPart } from "../lazy_part.ts";
import { type BatchContext, type Failure, failure, record } from "./batch.ts";

export async function sendToSite(
  b: BatchContext,
  destination: string,
  target: { site: string; node?: string },
  session: Session,
  rows: ClaimedRow[],
  log: Logger,
): Promise<void> {
  // Loaded with the first remote destination: an agent without a hub does without the tunnel code.
  const { sendRemote } = await loadPart("forward/remote");
  // Hashes the sends computed (objects not yet backfilled), recorded in one transaction after the batch.
  const hashed: ComputedHash[] = [];
  // Relays that failed, recorded together when the batch ends (one synced write, not one per row).
  const failures: Failure[] = [];
  let unsent: ClaimedRow[];
  try {
    unsent = await sendRemote(
      session,
      target,
      rows,
      b.archive,
      (r) => {
        if (r.ok) {
          b.done.add(r.row.id);
          b.reached(destination);
          b.onEvent({ type: "attempt", destination, status: Status.Success, outcome: "done" });
          b.onEvent({ type: "delivered", destination, latencyMs: Date.now() - r.row.createdAt });
          return;
        }
        log.warn("relay attempt failed", { sop: hashUid(r.row.sopInstanceUid), reason: r.error });
        failures.push(failure(b, r.row, r.status ?? null, r.error, r.permanent));
      },
      (row) => !b.running() || b.queue.isPaused(destination) || b.queue.canceledSinceClaim(row),
      (object, sha256) => hashed.push({ sopInstanceUid: object.sopInstanceUid, path: object.key, sha256 }),
    );
  } finally {
    record(b, failures, destination);
  }
  try {
    b.queue.recordHashes(hashed);
  } catch (err) {
    log.warn("recording hashes computed while sending failed; the backfill computes them again", {
      reason: (err as Error).name,
    });
  }
  b.queue.release(unsent.map((row) => row.id));
}
