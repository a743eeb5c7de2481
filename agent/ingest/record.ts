/** The index transaction of placed objects: their instance rows, queue rows and conflicts. */
import { indexInstances, NOT_HASHED } from "../index/instances.ts";
import { recordConflictInTransaction } from "../index/conflicts.ts";
import type { Checked } from "./checks.ts";
import type { IngestOptions } from "./ingest.ts";
import type { Prepared } from "./place.ts";

/**
 * Records placed objects in one index transaction (each in a savepoint of its own): instance rows,
 * queue rows and conflicts. Returns the objects whose rows did not commit; their files are taken back
 * out of the archive (unless they replaced a stored one) only when `removeFailed` (nobody was answered
 * Success for them yet). `unsynced`: the commit is not flushed to the disk (`Database.writeUnsynced`),
 * for objects already durable in the archive, whose rows a power loss may undo and the crash
 * reconcile of the next start rebuilds (recover.ts), as after a kill between placement and commit.
 */
export function write(
  o: IngestOptions,
  items: Extract<Prepared, { kind: "index" }>[],
  removeFailed = true,
  unsynced = false,
): Checked[] {
  const { db } = o;
  const routing = o.routing;
  const failed: { item: (typeof items)[number]; err: unknown }[] = [];
  const committed: (typeof items)[number][] = [];
  const each = () => {
    const errors = indexInstances(
      db,
      items.map(({ checked: { received, ctx, attrs, key }, targets, conflict, again, also }) => ({
        attrs,
        file: {
          path: key,
          fileSize: received.fileSize,
          datasetOffset: received.fileSize - received.datasetSize,
          datasetSize: received.datasetSize,
          sha256: received.datasetSha256 ?? NOT_HASHED,
          transferSyntaxUid: received.meta.transferSyntax,
          callingAet: ctx.association.callingAet,
        },
        alsoInTransaction: () => {
          // New bytes under a known UID (keepLast, a resolution) go again; the same object committed twice
          // does not.
          const resend = conflict !== undefined || again === true;
          routing?.queue.addInTransaction(attrs.sopInstanceUid, targets, undefined, resend);
          if (conflict) {
            recordConflictInTransaction(db, attrs.sopInstanceUid, conflict, ctx.association.callingAet);
          }
          also?.();
        },
      })),
    );
    items.forEach((item, i) => {
      if (errors[i] === undefined) committed.push(item);
      else failed.push({ item, err: errors[i] });
    });
  };
  let transactionFailed = false;
  try {
    if (unsynced) db.writeUnsynced(each);
    else each();
  } catch (err) {
    // The whole transaction failed (its commit): nothing of it holds. One line for the group (until
    // 2026-12-08 one per object, at every retry: 48 lines for 7 objects on a full disk).
    committed.length = 0;
    failed.length = 0;
    for (const item of items) failed.push({ item, err });
    transactionFailed = true;
    items[0]?.checked.log.error("index commit failed", { objects: items.length, ...failureOf(err) });
  }
  for (const { item, err } of failed) {
    if (!transactionFailed) item.checked.log.error("index commit failed", failureOf(err));
    // The index did not commit: take the object back out so archive and index agree (a replaced
    // object cannot be put back; the index still describes the old one, which a re-send repairs).
    if (removeFailed && !item.conflict) void o.archive.remove(item.checked.key).catch(() => {});
  }
  const destinations = new Set<string>();
  for (const item of committed) {
    const { received, ctx, attrs } = item.checked;
    for (const t of item.targets) destinations.add(t.destination);
    // A resolution received nothing: the received and stored counters counted its copy when it came.
    if (item.again) continue;
    o.onStored?.({
      sopInstanceUid: attrs.sopInstanceUid,
      callingAet: ctx.association.callingAet,
      bytes: received.fileSize,
      duplicate: Boolean(item.conflict),
      conflict: Boolean(item.conflict),
      stored: true,
    });
  }
  if (destinations.size) routing!.queued([...destinations]);
  return failed.map((f) => f.item.checked);
}

/**
 * What kind of failure an index write met, for the log: its code, and SQLite's own words when they are one
 * of the system's conditions (a full disk, an I/O error...), which quote no value. Other messages may quote
 * the statement's values (names, IDs) and are left out.
 */
function failureOf(err: unknown): { code: string; reason?: string } {
  const code = (err as { code?: string }).code ?? (err as Error)?.name ?? "unknown";
  const message = String((err as Error)?.message ?? "");
  const reason = SYSTEM_CONDITIONS.find((c) => message.toLowerCase().includes(c));
  return reason ? { code, reason } : { code };
}

const SYSTEM_CONDITIONS = [
  "database or disk is full",
  "disk i/o error",
  "no space left on device",
  "database is locked",
  "attempt to write a readonly database",
  "unable to open database file",
  "database disk image is malformed",
  "out of memory",
];
