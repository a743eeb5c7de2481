/**
 * Recovery at start, before the agent accepts work:
 * - the intake (intake.ts): objects answered Success whose group commit had not run are committed now;
 * - after a crash: an object can be in the archive without its index row (a group commit killed between
 *   placing it and committing its rows; it was answered Success before). It is indexed and routed now.
 *   Only what changed shortly before the crash is looked at (the archive lists keys changed since then),
 *   so this costs a few directory reads, not a walk of the whole archive.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Logger } from "@conduit/shared/log";
import { elementText } from "@conduit/shared/dicom";
import type { Database } from "../index/db.ts";
import { type Archive, datasetHash, parseAsideKey, parseObjectKey } from "../archive/archive.ts";
import { isKeptAside, recordConflict } from "../index/conflicts.ts";
import { existingInstance } from "../index/instances.ts";
import type { AssociationInfo } from "../dimse/handlers.ts";
import type { ReceivedObject } from "../part10/file_stream.ts";
import { HEAD_BYTES } from "../part10/file_stream.ts";
import { readHeader } from "../part10/header.ts";
import { type ByteSource, openFile, readUpTo } from "../part10/source.ts";
import type { Ingest } from "./ingest.ts";
import type { Checked } from "./checks.ts";
import type { Intake } from "./intake.ts";

const CLEAN_STOP = "clean-stop";
/**
 * Written by `agent restore` (backup/restore.ts): the index was put back from a backup, so the next start
 * reconciles the whole archive with it, not only what a crash may have touched.
 */
export const RESTORED = "restored";
/** Rows looked at per transaction when the files of a restored index are checked. */
const CHECK_BATCH = 500;
/** How far before the last indexed arrival a change can belong to the crash. */
const MARGIN_MS = 5 * 60_000;

/** Marks a clean stop (no reconcile needed at the next start). */
export function markCleanStop(dataDir: string): void {
  fs.writeFileSync(path.join(dataDir, CLEAN_STOP), `${Date.now()}\n`);
}

/**
 * What a stored file holds, as the C-STORE receive path would have reported it (header, size; no hash:
 * backfill.ts adds it to the index).
 */
export async function receivedFrom(
  source: ByteSource,
  tempPath: string,
  sourceAet: string,
): Promise<ReceivedObject> {
  const header = await readHeader(source);
  const offset = header.header.datasetOffset;
  const head = await readUpTo(source, 0, HEAD_BYTES);
  // The calling AE title the receive path wrote as (0002,0016) Source Application Entity Title.
  sourceAet ||= elementText(head, header.header.meta, 0x00020016)?.trim() ?? "";
  return {
    tempPath,
    datasetSize: source.size - offset,
    fileSize: source.size,
    meta: {
      sopClassUid: header.header.sopClassUid ?? "",
      sopInstanceUid: header.header.sopInstanceUid ?? "",
      transferSyntax: header.header.transferSyntax,
      sourceAet,
    },
    head,
    headIsWhole: head.length === source.size,
  };
}

async function checkFile(ingest: Ingest, file: string, association: AssociationInfo) {
  const source = await openFile(file);
  let received: ReceivedObject;
  try {
    received = await receivedFrom(source, file, association.callingAet);
  } finally {
    await source.close();
  }
  return await ingest.check(received, {
    association,
    sopClassUid: received.meta.sopClassUid,
    sopInstanceUid: received.meta.sopInstanceUid,
    transferSyntax: received.meta.transferSyntax,
  });
}

/** Commits the objects waiting in the intake (answered Success, not yet indexed). */
export async function recoverIntake(
  ingest: Ingest,
  intake: Intake,
  log: Logger,
): Promise<{ committed: number; failed: number }> {
  let committed = 0;
  let failed = 0;
  for (const entry of intake.entries()) {
    try {
      const checked = await checkFile(ingest, entry.path, entry.association);
      const prepared = await ingest.prepare(checked, []);
      if (prepared.kind === "index" && ingest.write([prepared], false).length) {
        throw new Error("index commit failed");
      }
      committed++;
    } catch (err) {
      failed++;
      log.error("an object answered Success could not be committed from the intake; it stays there", {
        code: (err as { code?: string }).code ?? (err as Error).name,
      });
    }
  }
  return { committed, failed };
}

/**
 * After a crash: objects the index does not know, among those changed since shortly before the last
 * arrival, are indexed (a group commit placed them and was killed before its rows committed) or, when
 * the index holds the instance under another key, removed.
 *
 * After a restore (the `restored` marker): every index row's file is checked first, and a row whose file
 * is missing (removed since the backup was taken, by retention or by hand, or not restored) becomes a
 * tombstone as retention leaves one, its rows still to forward dead ("file missing"); then the whole
 * archive is walked and every file the index does not know is indexed and routed (placed since the
 * backup) or removed (superseded). The marker goes only once this is done: a stop in between does it again.
 *
 * Either way, a `keepBoth` copy (`<SOP>.conflict-<16 hex>.dcm`, or `<SOP>.<16 hex>.dcm` as older versions
 * named it) without its conflicts row (placed after the backup, or a crash between the copy and its row) is
 * kept and its conflict recorded again (`conflicts`), once its file is seen to be that copy: its SOP Instance
 * UID and the start of its data set's hash are those of its name. An older name that is not such a copy is
 * an object key (a UID may end in 16 digits) and handled as one.
 */
export async function reconcileAfterCrash(
  db: Database,
  archive: Archive,
  dataDir: string,
  ingest?: Ingest,
  log?: Logger,
): Promise<
  {
    crashed: boolean;
    restored: boolean;
    removed: number;
    indexed: number;
    missing: number;
    conflicts: number;
  }
> {
  const marker = path.join(dataDir, CLEAN_STOP);
  const clean = fs.existsSync(marker);
  const restoredMarker = path.join(dataDir, RESTORED);
  const restored = fs.existsSync(restoredMarker);
  fs.rmSync(marker, { force: true });
  if (clean && !restored) {
    return { crashed: false, restored, removed: 0, indexed: 0, missing: 0, conflicts: 0 };
  }
  const missing = restored ? await tombstoneMissing(db, archive) : 0;
  // The newest object still archived (instances_live_received: a full scan of the index's rows otherwise,
  // about a second at 3 million); a newer tombstone only means a few more folders are listed.
  const last = db.statement("SELECT max(received_at) AS t FROM instances WHERE removed_at IS NULL").get()
    ?.t as number | null;
  const since = (last ?? 0) - MARGIN_MS;
  const known = db.statement("SELECT 1 FROM instances WHERE sop_instance_uid = ? AND path = ?");
  let removed = 0;
  let indexed = 0;
  let conflicts = 0;
  for await (const key of archive.list("archive/", restored ? {} : { changedSince: since })) {
    const uids = parseObjectKey(key);
    if (uids && known.get(uids.sop, key)) continue;
    const aside = parseAsideKey(key);
    if (aside) {
      if (isKeptAside(db, key)) continue;
      if (await recordKeptAside(db, archive, key, aside, log)) {
        conflicts++;
        continue;
      }
      // Not the copy its name says: a name of this version is left as it is (no object has it); an older
      // one may be an object's key after all.
    }
    if (!uids) continue;
    if (ingest && await indexStray(ingest, archive, key, log)) {
      indexed++;
      continue;
    }
    await archive.remove(key);
    removed++;
  }
  if (restored) fs.rmSync(restoredMarker, { force: true });
  return { crashed: !clean, restored, removed, indexed, missing, conflicts };
}

/**
 * Records the conflict of a kept-aside copy that has no conflicts row, when the file is that copy (its SOP
 * Instance UID and the first 16 hex digits of its data set's SHA-256 are those of its name); false when it
 * is not, or cannot be read. When it was received is not known: the row says now.
 */
async function recordKeptAside(
  db: Database,
  archive: Archive,
  key: string,
  aside: { sop: string; hash16: string },
  log?: Logger,
): Promise<boolean> {
  try {
    const received = await archivedObject(archive, key);
    if (received.meta.sopInstanceUid !== aside.sop) return false;
    const hash = await datasetHash(archive, {
      path: key,
      datasetOffset: received.fileSize - received.datasetSize,
      datasetSize: received.datasetSize,
    });
    if (!hash.startsWith(aside.hash16)) return false;
    const stored = existingInstance(db, aside.sop);
    recordConflict(db, aside.sop, {
      storedSha256: stored?.sha256 ?? "",
      receivedSha256: hash,
      policy: "keepBoth",
      keptPath: key,
    }, received.meta.sourceAet ?? "");
    return true;
  } catch (err) {
    log?.warn("a kept-aside conflict copy without its record could not be read", {
      code: (err as { code?: string }).code ?? (err as Error).name,
    });
    return false;
  }
}

/**
 * Index rows (archived objects and de-identified copies) whose file is missing: tombstoned, and the queue
 * rows still to forward them made dead, so that nothing serves or sends a file that is not there.
 */
async function tombstoneMissing(db: Database, archive: Archive): Promise<number> {
  const now = Date.now();
  let missing = 0;
  const kinds = [
    {
      select: `SELECT sop_instance_uid AS id, path FROM instances
        WHERE removed_at IS NULL AND path <> '' AND sop_instance_uid > ? ORDER BY sop_instance_uid LIMIT ?`,
      remove: `UPDATE instances SET removed_at = ?, path = '' WHERE sop_instance_uid = ? AND path = ?`,
      dead: `UPDATE queue SET state = 'dead', last_error = ?, updated_at = ?
        WHERE sop_instance_uid = ? AND copy_id IS NULL AND state NOT IN ('done', 'dead', 'committing')`,
      first: "" as string | number,
    },
    {
      select: `SELECT id, path FROM deid_copies WHERE removed_at IS NULL AND id > ? ORDER BY id LIMIT ?`,
      remove: `UPDATE deid_copies SET removed_at = ? WHERE id = ? AND path = ?`,
      dead: `UPDATE queue SET state = 'dead', last_error = ?, updated_at = ?
        WHERE copy_id = ? AND state NOT IN ('done', 'dead', 'committing')`,
      first: 0 as string | number,
    },
  ];
  const reason = "the file is missing (the index was restored from a backup)";
  for (const kind of kinds) {
    let after = kind.first;
    for (;;) {
      const rows = db.statement(kind.select).all(after, CHECK_BATCH) as {
        id: string | number;
        path: string;
      }[];
      if (rows.length === 0) break;
      after = rows.at(-1)!.id;
      const gone: typeof rows = [];
      for (const row of rows) if (!await archive.stat(row.path).catch(() => true)) gone.push(row);
      if (gone.length === 0) continue;
      db.write(() => {
        for (const row of gone) {
          db.statement(kind.remove).run(now, row.id, row.path);
          db.statement(kind.dead).run(reason, now, row.id);
        }
      });
      missing += gone.length;
    }
  }
  return missing;
}

/**
 * An archived file described as a received object (its meta, head and sizes), read from the archive; its
 * `tempPath` is the file's, so that a header longer than the head kept is read from there (a key is
 * relative to the data directory, not to the process's).
 */
async function archivedObject(archive: Archive, key: string): Promise<ReceivedObject> {
  const source = await archive.open(key);
  try {
    return await receivedFrom(source, archive.fileOf(key), "");
  } finally {
    await source.close();
  }
}

/**
 * An archived file checked as a received object would be (its key is the one its UIDs give, which may
 * not be `key`), its calling AE title `callingAet` or else the one the receive path wrote in its meta.
 */
export async function checkArchived(
  ingest: Ingest,
  archive: Archive,
  key: string,
  callingAet = "",
): Promise<Checked> {
  const received = await archivedObject(archive, key);
  const association = {
    callingAet: callingAet || received.meta.sourceAet || "",
    calledAet: "",
    remoteAddress: "",
  };
  return await ingest.check(received, {
    association,
    sopClassUid: received.meta.sopClassUid,
    sopInstanceUid: received.meta.sopInstanceUid,
    transferSyntax: received.meta.transferSyntax,
  });
}

async function indexStray(ingest: Ingest, archive: Archive, key: string, log?: Logger): Promise<boolean> {
  try {
    const checked = await checkArchived(ingest, archive, key);
    return checked.key === key && ingest.indexPlaced(checked);
  } catch (err) {
    log?.warn("an archive file without its index row could not be indexed; removed", {
      code: (err as { code?: string }).code ?? (err as Error).name,
    });
    return false;
  }
}
