/**
 * After a crash: a file can have been renamed into the archive without its index row committed
 * (the process died between the two). Such an object was never answered Success, so its sender
 * sends it again; the stray copy is removed. Only series folders changed shortly before the crash are
 * looked at, so this costs a few directory reads, not a walk of the whole archive.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Database } from "../index/db.ts";
import type { Archive } from "./archive.ts";

const CLEAN_STOP = "clean-stop";
/** How far before the last indexed arrival a folder change can belong to the crash. */
const MARGIN_MS = 5 * 60_000;

/** Marks a clean stop (no reconcile needed at the next start). */
export function markCleanStop(dataDir: string): void {
  fs.writeFileSync(path.join(dataDir, CLEAN_STOP), `${Date.now()}\n`);
}

/** Removes files the index does not know, in series folders changed since shortly before the last arrival. */
export function reconcileAfterCrash(db: Database, archive: Archive): { crashed: boolean; removed: number } {
  const marker = path.join(archive.dataDir, CLEAN_STOP);
  const clean = fs.existsSync(marker);
  fs.rmSync(marker, { force: true });
  if (clean) return { crashed: false, removed: 0 };
  const last = db.statement("SELECT max(received_at) AS t FROM instances").get()?.t as number | null;
  const since = (last ?? 0) - MARGIN_MS;
  const known = db.statement("SELECT 1 FROM instances WHERE sop_instance_uid = ? AND path = ?");
  const keptAside = db.statement("SELECT 1 FROM conflicts WHERE kept_path = ?");
  let removed = 0;
  for (const study of safeList(archive.archiveDir)) {
    const studyDir = path.join(archive.archiveDir, study);
    if (mtime(studyDir) < since && !recentChild(studyDir, since)) continue;
    for (const series of safeList(studyDir)) {
      const seriesDir = path.join(studyDir, series);
      if (mtime(seriesDir) < since) continue;
      for (const name of safeList(seriesDir)) {
        const m = /^([0-9.]+)\.dcm$/.exec(name);
        if (!m) continue;
        const relative = path.join("archive", study, series, name);
        // A kept-aside conflict copy (<uid>.<16 hex>.dcm, which can look like a UID) is in conflicts.
        if (!known.get(m[1], relative) && !keptAside.get(relative)) {
          fs.rmSync(path.join(seriesDir, name), { force: true });
          removed++;
        }
      }
    }
  }
  return { crashed: true, removed };
}

function safeList(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function mtime(p: string): number {
  try {
    return fs.statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

/** A study folder's own time changes only when a series is added; check its series too. */
function recentChild(dir: string, since: number): boolean {
  return safeList(dir).some((name) => mtime(path.join(dir, name)) >= since);
}
