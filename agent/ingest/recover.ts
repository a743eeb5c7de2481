/**
 * After a crash: an object can have been placed in the archive without its index row committed (the
 * process died between the two). Such an object was never answered Success, so its sender sends it
 * again; the stray copy is removed. Only what changed shortly before the crash is looked at (the archive
 * lists keys changed since then), so this costs a few directory reads, not a walk of the whole archive.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Database } from "../index/db.ts";
import { type Archive, parseObjectKey } from "../archive/archive.ts";
import { isKeptAside } from "../index/conflicts.ts";

const CLEAN_STOP = "clean-stop";
/** How far before the last indexed arrival a change can belong to the crash. */
const MARGIN_MS = 5 * 60_000;

/** Marks a clean stop (no reconcile needed at the next start). */
export function markCleanStop(dataDir: string): void {
  fs.writeFileSync(path.join(dataDir, CLEAN_STOP), `${Date.now()}\n`);
}

/** Removes objects the index does not know, among those changed since shortly before the last arrival. */
export async function reconcileAfterCrash(
  db: Database,
  archive: Archive,
  dataDir: string,
): Promise<{ crashed: boolean; removed: number }> {
  const marker = path.join(dataDir, CLEAN_STOP);
  const clean = fs.existsSync(marker);
  fs.rmSync(marker, { force: true });
  if (clean) return { crashed: false, removed: 0 };
  const last = db.statement("SELECT max(received_at) AS t FROM instances").get()?.t as number | null;
  const since = (last ?? 0) - MARGIN_MS;
  const known = db.statement("SELECT 1 FROM instances WHERE sop_instance_uid = ? AND path = ?");
  let removed = 0;
  for await (const key of archive.list("archive/", { changedSince: since })) {
    const uids = parseObjectKey(key);
    if (!uids) continue;
    // A kept-aside conflict copy (<uid>.<16 hex>.dcm, which can look like a UID) is in conflicts.
    if (!known.get(uids.sop, key) && !isKeptAside(db, key)) {
      await archive.remove(key);
      removed++;
    }
  }
  return { crashed: true, removed };
}
