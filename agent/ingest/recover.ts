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
import { type Archive, parseObjectKey } from "../archive/archive.ts";
import { isKeptAside } from "../index/conflicts.ts";
import type { AssociationInfo } from "../dimse/handlers.ts";
import type { ReceivedObject } from "../part10/file_stream.ts";
import { HEAD_BYTES } from "../part10/file_stream.ts";
import { readHeader } from "../part10/header.ts";
import { type ByteSource, openFile, readUpTo } from "../part10/source.ts";
import type { Ingest } from "./ingest.ts";
import type { Intake } from "./intake.ts";

const CLEAN_STOP = "clean-stop";
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
 */
export async function reconcileAfterCrash(
  db: Database,
  archive: Archive,
  dataDir: string,
  ingest?: Ingest,
  log?: Logger,
): Promise<{ crashed: boolean; removed: number; indexed: number }> {
  const marker = path.join(dataDir, CLEAN_STOP);
  const clean = fs.existsSync(marker);
  fs.rmSync(marker, { force: true });
  if (clean) return { crashed: false, removed: 0, indexed: 0 };
  const last = db.statement("SELECT max(received_at) AS t FROM instances").get()?.t as number | null;
  const since = (last ?? 0) - MARGIN_MS;
  const known = db.statement("SELECT 1 FROM instances WHERE sop_instance_uid = ? AND path = ?");
  let removed = 0;
  let indexed = 0;
  for await (const key of archive.list("archive/", { changedSince: since })) {
    const uids = parseObjectKey(key);
    if (!uids) continue;
    // A kept-aside conflict copy (<uid>.<16 hex>.dcm, which can look like a UID) is in conflicts.
    if (known.get(uids.sop, key) || isKeptAside(db, key)) continue;
    if (ingest && await indexStray(ingest, archive, key, log)) {
      indexed++;
      continue;
    }
    await archive.remove(key);
    removed++;
  }
  return { crashed: true, removed, indexed };
}

async function indexStray(ingest: Ingest, archive: Archive, key: string, log?: Logger): Promise<boolean> {
  try {
    const source = await archive.open(key);
    let received: ReceivedObject;
    try {
      received = await receivedFrom(source, key, "");
    } finally {
      await source.close();
    }
    const association = { callingAet: received.meta.sourceAet ?? "", calledAet: "", remoteAddress: "" };
    const checked = await ingest.check(received, {
      association,
      sopClassUid: received.meta.sopClassUid,
      sopInstanceUid: received.meta.sopInstanceUid,
      transferSyntax: received.meta.transferSyntax,
    });
    return checked.key === key && ingest.indexPlaced(checked);
  } catch (err) {
    log?.warn("an archive file without its index row could not be indexed; removed", {
      code: (err as { code?: string }).code ?? (err as Error).name,
    });
    return false;
  }
}
