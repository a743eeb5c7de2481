/**
 * Placing a checked object in the archive, or not: a new object goes to its archive key; the same bytes
 * under a known UID are a duplicate, dropped; other bytes are a conflict, kept as `archive.duplicates` says
 * (keepFirst, keepBoth aside, or keepLast in place of the stored one). Says what the index must record
 * (record.ts writes it).
 */
import { asideKey, datasetHash, withObject } from "../archive/archive.ts";
import { existingInstance, type IndexedDataset, NOT_HASHED } from "../index/instances.ts";
import { sha256Of } from "../part10/digest.ts";
import { sameRange } from "../part10/compare.ts";
import { openFile, withSource } from "../part10/source.ts";
import type { ReceivedObject } from "../part10/file_stream.ts";
import { type Conflict, recordConflict } from "../index/conflicts.ts";
import { queueTargets, route } from "../routing/rules.ts";
import { routingFacts } from "../routing/facts.ts";
import type { Checked } from "./checks.ts";
import type { ExtraTarget, IngestOptions } from "./ingest.ts";

/** What `prepare` did: nothing more to record, or placed with rows to write. */
export type Prepared =
  /** `kept`: other bytes under a known UID, kept aside or dropped by the policy: the archive holds the first. */
  | { kind: "done"; kept?: "keepFirst" | "keepBoth" }
  | {
    kind: "index";
    checked: Checked;
    targets: { route: string; destination: string }[];
    conflict?: Conflict;
    /** Other bytes under a known UID without a conflict to record (a resolution): routed again too. */
    again?: boolean;
    /** Runs in the object's savepoint, after its rows (a resolution marks its conflict resolved). */
    also?: () => void;
  };

/**
 * Places a checked object (or drops it as a duplicate of the same bytes, or keeps it aside as a
 * conflict) and says what the index must record; `write` records it.
 */
export async function prepare(o: IngestOptions, c: Checked, extra: ExtraTarget[]): Promise<Prepared> {
  const { archive, db } = o;
  const { received, ctx, attrs, key, log } = c;
  const callingAet = ctx.association.callingAet;
  const sop = attrs.sopInstanceUid;
  const event = { sopInstanceUid: sop, callingAet, bytes: received.fileSize };

  const existing = existingInstance(db, sop);
  // Retention removed it here, and the hub sends it for a node: a row for it would wait forever for a
  // file that is gone. It is archived again, for those rows only (the routes had it).
  const removedButAsked = existing !== undefined && !existing.path && extra.length > 0;
  let conflict: Conflict | undefined;
  if (existing) {
    // The UID is known: the same bytes are a duplicate, compared directly (sameAsStored) or by the
    // data sets' hashes (either may not have been computed yet). A stored object that cannot be read
    // (gone, short) counts as other bytes: a conflict, recorded.
    const hashes = await sameAsStored(o, existing, received)
      ? undefined
      : await hashesOf(o, existing, received);
    if (!hashes || hashes.stored === hashes.received) {
      if (removedButAsked) {
        await archive.place(received.tempPath, key);
        return { kind: "index", checked: c, targets: extra };
      }
      // Idempotent: the same object again (a resend, a retried C-MOVE) is stored once.
      await keepStored(o, received, event);
      queueExtra(o, sop, extra);
      return { kind: "done" };
    }
    const policy = o.duplicates ?? "keepFirst";
    log.warn("instance received again with different bytes", { policy });
    conflict = { storedSha256: hashes.stored, receivedSha256: hashes.received, policy };
    // Other bytes under a removed object's UID, asked for a node: the first is gone, nothing to keep
    // instead; the conflict is recorded and these bytes are archived for those rows, as for the same bytes.
    if (policy !== "keepLast" && !removedButAsked) {
      if (policy === "keepFirst") await archive.discardStaged(received.tempPath);
      else {
        conflict.keptPath = asideKey(key, hashes.received);
        await archive.place(received.tempPath, conflict.keptPath);
      }
      recordConflict(db, sop, conflict, callingAet);
      queueExtra(o, sop, extra);
      o.onStored?.({ ...event, duplicate: true, conflict: true });
      return { kind: "done", kept: policy };
    }
    // keepLast: the new object replaces the stored one below, and is routed again.
  }

  const targets = removedButAsked ? extra : [...routeTargets(o, c), ...extra];
  await archive.place(received.tempPath, key);
  return { kind: "index", checked: c, targets, conflict };
}

/**
 * The SHA-256 of the archived data set (its index's, else computed; NOT_HASHED when it cannot be read)
 * and of the received one (computed once, kept on `received`).
 */
export async function hashesOf(
  o: IngestOptions,
  existing: IndexedDataset,
  received: ReceivedObject,
): Promise<{ stored: string; received: string }> {
  const stored = existing.sha256 ||
    (existing.path ? await datasetHash(o.archive, existing).catch(() => NOT_HASHED) : NOT_HASHED);
  received.datasetSha256 ??= await withSource(
    openFile(received.tempPath),
    (source) => sha256Of(source, received.fileSize - received.datasetSize, received.datasetSize),
  );
  return { stored, received: received.datasetSha256 };
}

/** A duplicate: the archived object stays as it is, the received copy goes; counted as a duplicate. */
export async function keepStored(
  o: IngestOptions,
  received: ReceivedObject,
  event: { sopInstanceUid: string; callingAet: string; bytes: number },
): Promise<void> {
  await o.archive.discardStaged(received.tempPath);
  o.onStored?.({ ...event, duplicate: true, conflict: false });
}

/**
 * Whether the received data set is byte for byte the archived one of the same UID, compared directly
 * (part10/compare.ts) where neither side's hash is known: a C-STORE's bytes are not hashed on the way
 * in, and hashing both costs more than reading and comparing them. False when it cannot tell (sizes
 * differ, the stored object is unreadable, a hash is known): the hashes decide then.
 */
export async function sameAsStored(
  o: IngestOptions,
  existing: IndexedDataset,
  received: ReceivedObject,
): Promise<boolean> {
  if (!existing.path || existing.datasetSize !== received.datasetSize) return false;
  if (existing.sha256 && received.datasetSha256) return false;
  const { archive } = o;
  try {
    return await withObject(archive, existing.path, (stored) =>
      withSource(
        openFile(received.tempPath),
        (mine) =>
          sameRange(
            stored,
            existing.datasetOffset,
            mine,
            received.fileSize - received.datasetSize,
            received.datasetSize,
          ),
      ));
  } catch {
    return false;
  }
}

/** The queue rows the current routes give an object. */
export function routeTargets(o: IngestOptions, c: Checked): { route: string; destination: string }[] {
  const routing = o.routing;
  return routing
    ? queueTargets(route(routing.routes, routingFacts(c.header, c.attrs, c.ctx.association)))
    : [];
}

/**
 * Queues a stored object for `extra` destinations it has no row for, or whose row failed or died
 * (the queue's rule for a route sent again: done rows stay done).
 */
export function queueExtra(o: IngestOptions, sopInstanceUid: string, extra: ExtraTarget[]): void {
  const routing = o.routing;
  if (!routing || extra.length === 0) return;
  for (const t of extra) routing.queue.enqueueRoute([sopInstanceUid], t.route, t.destination);
  routing.queued([...new Set(extra.map((t) => t.destination))]);
}
