/**
 * What can refuse a received object before it is answered: a data set that is malformed, does not parse, or
 * does not match its C-STORE command, or UIDs that cannot make an archive key (0xC000, 0xA900). Reads only the
 * bytes kept while receiving (or the head of the file), never the index.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import {
  DicomParseError,
  encodingOf,
  type InstanceAttributes,
  instanceAttributes,
  TruncatedError,
} from "@conduit/shared/dicom";
import { DimseStatusError, Status, type StoreContext } from "../dimse/handlers.ts";
import type { ReceivedObject } from "../part10/file_stream.ts";
import { type FileHeader, parseHeaderBytes, readFileHeader } from "../part10/header.ts";
import { objectKey } from "../archive/archive.ts";
import { checkDeflated } from "../part10/deflated_check.ts";

/** An object whose checks passed: what the index will record about it, and where it goes. */
export interface Checked {
  received: ReceivedObject;
  ctx: StoreContext;
  header: FileHeader;
  attrs: InstanceAttributes;
  key: string;
  log: Logger;
}

const COMMAND_MISMATCH = "SOP Class or Instance UID differs from the command";

/** What an object's header told before its last byte arrived (`Ingest.check`). */
export interface EarlyCheck {
  header: FileHeader;
  found: { attrs: InstanceAttributes; key: string };
}

/**
 * What can refuse an object before it is answered: a data set that is malformed, does not parse, or
 * does not match its command, or UIDs that cannot make an archive key. Reads only the bytes kept while
 * receiving (or the head of the file), never the index.
 */
export async function checkReceived(
  ingestLog: Logger,
  received: ReceivedObject,
  ctx: StoreContext,
  early?: EarlyCheck,
): Promise<Checked> {
  const log = ingestLog.child({
    sop: () => hashUid(ctx.sopInstanceUid),
    callingAet: ctx.association.callingAet,
  });
  if (startsWithFileMeta(received)) {
    log.warn("C-STORE data set begins with File Meta elements (group 0002)");
    throw new DimseStatusError(Status.CannotUnderstand, FILE_META_IN_DATASET);
  }
  if (received.inflateToCheck) await checkInflated(received, log);
  // The header as parsed before the last byte (`earlyCheck`) holds when the whole object turned out
  // well formed and longer than the bytes parsed; anything else is parsed and reported now.
  if (early && !received.malformed && !received.headIsWhole) {
    return { received, ctx, header: { ...early.header, fileSize: received.fileSize }, ...early.found, log };
  }
  const header = await checkedHeader(received, log);
  const found = headerChecks(header, ctx);
  if (found instanceof DimseStatusError) {
    if (found.message === COMMAND_MISMATCH) log.warn("data set does not match its C-STORE command");
    throw found;
  }
  return { received, ctx, header, ...found, log };
}

const FILE_META_IN_DATASET = "data set begins with File Meta elements (group 0002)";

/**
 * Whether the data set received begins with a group 0002 element (PS3.10 7.1: File Meta elements are not
 * part of a data set). Written behind the File Meta group the agent makes, it would be read as part of
 * that group: a second Transfer Syntax UID there, which readers such as pydicom take, and the object read
 * in a syntax it is not in. Checked on the kept head (the File Meta group, then the data set's start).
 */
function startsWithFileMeta(received: ReceivedObject): boolean {
  const at = received.fileSize - received.datasetSize;
  if (received.datasetSize < 2 || received.head.length < at + 2) return false;
  const { littleEndian, deflated } = encodingOf(received.meta.transferSyntax);
  if (deflated) return false;
  const group = littleEndian
    ? received.head[at] | (received.head[at + 1] << 8)
    : (received.head[at] << 8) | received.head[at + 1];
  return group === 0x0002;
}

/**
 * A deflated data set, inflated as a stream from the staging file, checked as other data sets are checked as
 * they arrive (StructureCheck) and for File Meta elements at its start; refused (0xC000) when it does not
 * inflate, is cut short, or fails either check. Until 2026-12-06 deflated data sets were not looked into: one
 * with a VR XX, an undefined-length UT, group 0002 first or a deflate stream cut short was stored.
 */
async function checkInflated(received: ReceivedObject, log: Logger): Promise<void> {
  let found;
  try {
    found = await checkDeflated(received.tempPath, received.datasetSize);
  } catch (err) {
    log.warn("C-STORE payload is not a readable data set", { reason: String(err), deflated: true });
    throw new DimseStatusError(Status.CannotUnderstand, `data set not readable: ${(err as Error).message}`);
  }
  if (!found) return;
  if ("fileMeta" in found) {
    log.warn("C-STORE data set begins with File Meta elements (group 0002)", { deflated: true });
    throw new DimseStatusError(Status.CannotUnderstand, FILE_META_IN_DATASET);
  }
  log.warn("C-STORE payload does not parse to its end", { reason: found.problem, deflated: true });
  throw new DimseStatusError(Status.CannotUnderstand, `data set malformed: ${found.problem}`);
}

/**
 * The header of a received object, from the bytes kept while receiving (or the staging file when it runs
 * past them); a data set found broken as it arrived, or one that does not parse, is refused (0xC000)
 * before anything reaches the archive or the index.
 */
async function checkedHeader(received: ReceivedObject, log: Logger): Promise<FileHeader> {
  if (received.malformed) {
    // Checked as the bytes arrived: a data set cut short (inside Pixel Data or any element) or broken.
    log.warn("C-STORE payload does not parse to its end", { reason: received.malformed });
    throw new DimseStatusError(Status.CannotUnderstand, `data set malformed: ${received.malformed}`);
  }
  try {
    return headerOf(received) ?? await readFileHeader(received.tempPath);
  } catch (err) {
    const reason = err instanceof DicomParseError ? err.message : String(err);
    log.warn("C-STORE payload is not a readable data set", { reason });
    throw new DimseStatusError(Status.CannotUnderstand, `data set not readable: ${reason}`);
  }
}

/**
 * The header checks of an object whose bytes up to its pixel data have arrived, or undefined when they
 * do not pass: the check after the last byte then does them again, and reports.
 */
export function earlyCheck(head: Uint8Array, ctx: StoreContext): EarlyCheck | undefined {
  try {
    const header = parseHeaderBytes(head, head.length, false);
    const found = headerChecks(header, ctx);
    return found instanceof DimseStatusError ? undefined : { header, found };
  } catch {
    return undefined;
  }
}

/**
 * The instance's attributes and archive key from its header, or why it is refused: without the File
 * Meta's UIDs, the data set's own must match the command.
 */
function headerChecks(
  header: FileHeader,
  ctx: StoreContext,
): { attrs: InstanceAttributes; key: string } | DimseStatusError {
  const attrs = instanceAttributes(header.bytes, header.dataset, undefined, header.header.transferSyntax);
  if (attrs.sopInstanceUid !== ctx.sopInstanceUid || attrs.sopClassUid !== ctx.sopClassUid) {
    return new DimseStatusError(Status.DataSetMismatch, COMMAND_MISMATCH);
  }
  if (!attrs.studyInstanceUid || !attrs.seriesInstanceUid) {
    return new DimseStatusError(Status.DataSetMismatch, "Study or Series Instance UID missing");
  }
  try {
    return { attrs, key: objectKey(attrs.studyInstanceUid, attrs.seriesInstanceUid, attrs.sopInstanceUid) };
  } catch (err) {
    return new DimseStatusError(Status.DataSetMismatch, (err as Error).message);
  }
}

/** Parses the header from the bytes kept while receiving; undefined when it runs past them. */
function headerOf(received: ReceivedObject): FileHeader | undefined {
  try {
    return parseHeaderBytes(received.head, received.fileSize, received.headIsWhole);
  } catch (err) {
    if (err instanceof TruncatedError && !received.headIsWhole) return undefined;
    throw err;
  }
}
