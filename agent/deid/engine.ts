/**
 * De-identifies one Part 10 file into another under a profile (`profile.ts`): the header goes through
 * the rewrite core with the edits `decide.ts` chooses, the pixel data is copied as bytes (never decoded),
 * the elements after it are judged like the rest, and a new File Meta group names the pseudonymous SOP
 * Instance UID. Memory stays bounded by the header whatever the object's size, except for deflated data
 * sets, which are inflated whole and written as Explicit VR Little Endian.
 *
 * Deterministic: the same input, profile and key give the same bytes, so a retry or another site
 * produces the same object.
 */
import * as fs from "node:fs";
import { inflateRawSync } from "node:zlib";
import { createHash, type Hash } from "node:crypto";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import {
  buildFileMeta,
  type DataSet,
  encodingOf,
  findElement,
  instanceAttributes,
  parseDataSet,
  type Part10Header,
  PIXEL_DATA,
  readPart10Header,
  stringValue,
  TextDecoding,
  TransferSyntax,
  TruncatedError,
} from "@conduit/shared/dicom";
import { dateShiftDays, pseudonymizePatientId } from "@conduit/shared/deid/pseudonyms";
import type { TrialAttributes } from "@conduit/shared/deid";
import { readHeader } from "../part10/header.ts";
import { type ByteSource, openFileSync, readExactly, readInto, readUpTo } from "../part10/source.ts";
import { giveBack, takeBuffer } from "./scratch.ts";
import { rewriteDataSet } from "./rewrite.ts";
import { methodAdditions, trialAdditions } from "./additions.ts";
import { makeEditor } from "./decide.ts";
import type { DeidProfile } from "./profile.ts";
import { pixelDataEnd } from "./pixel_span.ts";

export type { Action, DeidProfile } from "./profile.ts";

/** Clinical Trial attributes set from the caller (PS3.3 C.7.1.3, C.7.2.3, C.7.3.2). */
export type { TrialAttributes };

export interface DeidRequest {
  key: Uint8Array;
  profile: DeidProfile;
  patientNamePrefix?: string;
  /** Original Patient ID -> pseudonym, taking precedence over the keyed one (Patient ID and Name). */
  pseudonyms?: ReadonlyMap<string, string>;
  /** Let objects that may carry burned-in text through (held back otherwise). */
  allowBurnedIn?: boolean;
  trial?: TrialAttributes;
  /** Sync the output before renaming it into place (default true). */
  sync?: boolean;
  /**
   * Also hash the data set as it is written, and say where it lies in the file (`DeidResult.dataset`): a
   * caller that indexes the output then need not read it back.
   */
  hashDataset?: boolean;
}

/** Where the output's data set lies in its file, and its SHA-256 (hex), when `hashDataset` asked for it. */
export interface WrittenDataset {
  offset: number;
  size: number;
  sha256: string;
}

/** The identifiers of the de-identified object, as written. */
export interface DeidIdentifiers {
  patientId: string;
  patientName: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
}

export type DeidResult =
  | {
    status: "done";
    sopInstanceUid: string;
    bytes: number;
    identifiers: DeidIdentifiers;
    transferSyntax: string;
    /** Set when the transfer syntax changed (a deflated input written as Explicit VR Little Endian). */
    transferSyntaxChanged?: { from: string; to: string };
    /** With `hashDataset`. */
    dataset?: WrittenDataset;
  }
  | { status: "held"; reason: string }
  | { status: "failed"; reason: string };

/** (0028,0301) Burned In Annotation. */
const BURNED_IN_ANNOTATION = 0x00280301;

/** Modalities whose images may carry burned-in text when Burned In Annotation is absent. */
const BURN_PRONE = new Set(["US", "SC", "XC", "OT"]);
/** How many bytes of a large object are copied between two turns of the event loop. */
const YIELD_EVERY = 8 * 1024 * 1024;
/** Elements after the pixel data larger than this are refused rather than read into memory. */
const MAX_TRAILER = 64 * 1024 * 1024;

/** Objects up to this size are read whole, in one read; larger ones have their header read and the rest copied. */
const WHOLE_FILE = 8 * 1024 * 1024;

interface Input {
  header: Part10Header;
  dataset: DataSet;
  /** The bytes `dataset`'s offsets refer to (the whole file, or the inflated data set). */
  bytes: Uint8Array;
  fileSize: number;
  enc: { explicit: boolean; littleEndian: boolean; deflated: boolean };
  /** The pixel data and what follows it, when in memory; else they are copied from the file. */
  rest?: Uint8Array;
  deflated: boolean;
  /** The reused buffer the file was read into (`scratch.ts`), given back once the output is written. */
  scratch?: Uint8Array;
}

/** Reads a small object whole (or any deflated one, inflated), else only its header. */
/** Why a file that failed to read is not DICOM at all (reads as a truncated object otherwise: QA 2026-12-07). */
const NOT_DICOM = "not DICOM (no DICM prefix, and it does not begin with a data set)";

/**
 * Whether bytes that failed to read are no DICOM file at all: no DICM prefix (at 128, or at 0), and no data
 * set's first group (0000, 0002, 0004 or 0008, in either byte order) at the start. Else the reader's own
 * reason says more (a truncated or broken object).
 */
async function notDicom(source: ByteSource): Promise<boolean> {
  const head = new Uint8Array(Math.min(132, source.size));
  try {
    if (await source.read(head, 0) < head.length) return false;
  } catch {
    return false;
  }
  const text = (a: number) => String.fromCharCode(...head.subarray(a, a + 4));
  if (text(0) === "DICM" || (head.length === 132 && text(128) === "DICM")) return false;
  if (head.length < 2) return false;
  const little = head[0] | (head[1] << 8);
  const big = (head[0] << 8) | head[1];
  return ![0x0000, 0x0002, 0x0004, 0x0008].some((g) => g === little || g === big);
}

async function readInput(source: ByteSource): Promise<Input> {
  const size = source.size;
  const scratch = size <= WHOLE_FILE ? takeBuffer(size) : undefined;
  try {
    return await parseInput(source, scratch && await readInto(source, 0, scratch), scratch);
  } catch (err) {
    if (scratch) giveBack(scratch);
    throw err;
  }
}

async function parseInput(
  source: ByteSource,
  raw: Uint8Array | undefined,
  scratch?: Uint8Array,
): Promise<Input> {
  const size = source.size;
  if (!raw) {
    const h = await readHeader(source);
    const enc = encodingOf(h.header.transferSyntax);
    if (!enc.deflated) return { ...h, enc, deflated: false };
    raw = await readExactly(source, 0, size);
  }
  const header = readPart10Header(raw);
  const enc = encodingOf(header.transferSyntax);
  if (!enc.deflated) {
    const { dataset } = parseDataSet(raw, enc, { start: header.datasetOffset, stopAtTag: PIXEL_DATA });
    return {
      header,
      dataset,
      bytes: raw,
      fileSize: raw.length,
      enc,
      rest: raw.subarray(dataset.end),
      deflated: false,
      scratch,
    };
  }
  // Deflated: inflate everything, parse up to the pixel data, keep the rest in memory.
  const body = new Uint8Array(inflateRawSync(raw.subarray(header.datasetOffset)));
  const { dataset } = parseDataSet(body, enc, { stopAtTag: PIXEL_DATA });
  return {
    header,
    dataset,
    bytes: body,
    fileSize: raw.length,
    enc: { explicit: true, littleEndian: true, deflated: false },
    rest: body.subarray(dataset.end),
    deflated: true,
    scratch,
  };
}

/**
 * De-identifies the Part 10 file at `inPath` into `output`: a path, or a function that names the output
 * from the new identifiers (a batch naming files by their new SOP Instance UID writes each file once, under
 * its name). See `deidentify`. Reads with blocking calls (cheaper per object): for batches, on a worker or
 * a command line's thread; an agent's event loop uses `deidentify` with its own source.
 */
export async function deidentifyFile(
  inPath: string,
  output: string | ((ids: DeidIdentifiers) => string),
  req: DeidRequest,
): Promise<DeidResult> {
  let source: ByteSource;
  try {
    source = openFileSync(inPath);
  } catch (err) {
    return { status: "failed", reason: `not a readable DICOM file: ${(err as Error).message}` };
  }
  try {
    return await deidentify(source, output, req);
  } finally {
    await source.close();
  }
}

/**
 * De-identifies the Part 10 object in `input` into a new file at `output` (written under a temporary
 * name, synced unless `req.sync` is false, then renamed), or says why it did not.
 */
export async function deidentify(
  input: ByteSource,
  output: string | ((ids: DeidIdentifiers) => string),
  req: DeidRequest,
): Promise<DeidResult> {
  let h;
  try {
    h = await readInput(input);
  } catch (err) {
    const what = await notDicom(input) ? NOT_DICOM : (err as Error).message;
    return { status: "failed", reason: `not a readable DICOM file: ${what}` };
  }
  try {
    return await deidentifyInput(input, h, output, req);
  } finally {
    if (h.scratch) giveBack(h.scratch);
  }
}

async function deidentifyInput(
  input: ByteSource,
  h: Input,
  output: string | ((ids: DeidIdentifiers) => string),
  req: DeidRequest,
): Promise<DeidResult> {
  const { enc, header } = h;
  // From the data set itself, not the File Meta group (which is written anew): an output without them in its
  // data set would be no valid object, named by an empty UID.
  const attrs = instanceAttributes(h.bytes, h.dataset, undefined, header.transferSyntax);
  if (!attrs.sopClassUid || !attrs.sopInstanceUid) {
    return {
      status: "failed",
      reason: "cannot de-identify: the data set has no SOP Class UID or SOP Instance UID (0008,0016/0018)",
    };
  }
  const burnedEl = findElement(h.dataset, BURNED_IN_ANNOTATION);
  const burned = burnedEl && burnedEl.length > 0 ? stringValue(h.bytes, burnedEl).toUpperCase() : "";
  if (!req.allowBurnedIn && (burned === "YES" || (burned === "" && BURN_PRONE.has(attrs.modality)))) {
    return {
      status: "held",
      reason: burned === "YES"
        ? "Burned In Annotation is YES"
        : `modality ${attrs.modality} without Burned In Annotation`,
    };
  }
  const { key, profile } = req;
  const shift = profile.shiftDates
    ? dateShiftDays(key, attrs.patientId, profile.shiftDates.minDays, profile.shiftDates.maxDays)
    : 0;
  const ctx = {
    key,
    profile,
    decoding: new TextDecoding(attrs.specificCharacterSet),
    patientId: attrs.patientId,
    shift,
    pseudonyms: req.pseudonyms,
    patientNamePrefix: req.patientNamePrefix,
  };
  const outSyntax = h.deflated ? TransferSyntax.ExplicitVRLittleEndian : header.transferSyntax;
  const changed = h.deflated
    ? { from: TransferSyntax.DeflatedExplicitVRLittleEndian, to: TransferSyntax.ExplicitVRLittleEndian }
    : undefined;

  let newHeader: Uint8Array;
  let identifiers: DeidIdentifiers;
  try {
    const subject = req.pseudonyms?.get(attrs.patientId.trim()) ??
      pseudonymizePatientId(key, attrs.patientId);
    const additions = [
      ...methodAdditions(
        profile,
        changed && "deflated data set written as Explicit VR Little Endian",
        enc,
      ),
      ...trialAdditions(req, subject),
    ];
    newHeader = rewriteDataSet(
      h.bytes,
      h.dataset,
      makeEditor({ ...ctx, bytes: h.bytes }, h.dataset),
      enc,
      additions,
    );
    identifiers = identifiersOf(newHeader, enc, attrs.sopClassUid);
  } catch (err) {
    return { status: "failed", reason: `cannot de-identify the header: ${(err as Error).message}` };
  }

  const meta = buildFileMeta({
    sopClassUid: attrs.sopClassUid,
    sopInstanceUid: identifiers.sopInstanceUid,
    transferSyntax: outSyntax,
  });
  const outPath = typeof output === "string" ? output : output(identifiers);
  const tmp = `${outPath}.part`;
  let fd: number | undefined;
  let written = 0;
  let hash: Hash | undefined;
  try {
    const to = fs.openSync(tmp, "w", 0o640);
    fd = to;
    // Every byte written, counted (a short write is continued, never left as a hole), and the data set's
    // hashed when asked (everything after the File Meta group).
    const put: Put = (b) => {
      for (let at = 0; at < b.length;) at += fs.writeSync(to, b, at, b.length - at);
      written += b.length;
      hash?.update(b);
    };
    put(meta);
    if (req.hashDataset) hash = createHash("sha256");
    put(newHeader);
    if (h.rest) {
      writeRest(put, h.rest, ctx, enc);
    } else {
      await copyRest(
        put,
        input,
        header.datasetOffset + (h.dataset.end - h.dataset.offset),
        h.fileSize,
        ctx,
        enc,
      );
    }
    if (req.sync !== false) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, outPath);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    // A system error (no space, a read that failed) may pass; what the object's bytes say will not: a route
    // marks those failures permanent by this prefix (forward/deid_stage.ts).
    const system = typeof (err as { code?: unknown }).code === "string";
    const message = (err as Error).message;
    return { status: "failed", reason: system ? message : `not a readable DICOM file: ${message}` };
  }
  return {
    status: "done",
    sopInstanceUid: identifiers.sopInstanceUid,
    bytes: written,
    identifiers,
    transferSyntax: outSyntax,
    ...(changed ? { transferSyntaxChanged: changed } : {}),
    ...(hash
      ? { dataset: { offset: meta.length, size: written - meta.length, sha256: hash.digest("hex") } }
      : {}),
  };
}

type Ctx = Omit<Parameters<typeof makeEditor>[0], "bytes">;
type Enc = { explicit: boolean; littleEndian: boolean };
type Put = (bytes: Uint8Array) => void;

/** The pixel data element copied as bytes, then the elements after it judged like the rest. */
async function copyRest(put: Put, src: ByteSource, at: number, size: number, ctx: Ctx, enc: Enc) {
  const end = await pixelDataEnd(src, at, size, enc);
  const block = new Uint8Array(1 << 20);
  let pos = at;
  let sinceYield = 0;
  while (pos < end) {
    const n = await src.read(block.subarray(0, Math.min(block.length, end - pos)), pos);
    if (n <= 0) throw new Error("file ends inside the pixel data");
    put(block.subarray(0, n));
    pos += n;
    // A large object must not hold the event loop (an agent's heartbeats, its DIMSE peers) for long.
    if ((sinceYield += n) >= YIELD_EVERY) {
      sinceYield = 0;
      await yieldToEventLoop();
    }
  }
  if (end < size) {
    if (size - end > MAX_TRAILER) {
      throw new Error(`${size - end} bytes after the pixel data: too many to judge`);
    }
    const tail = await readUpTo(src, end, size - end);
    writeTrailer(put, tail, ctx, enc);
  }
}

/** For an inflated data set held in memory: pixel data as bytes, then the trailer judged. */
function writeRest(put: Put, rest: Uint8Array, ctx: Ctx, enc: Enc) {
  if (rest.length === 0) return;
  let dataset;
  try {
    dataset = parseDataSet(rest, { ...enc, deflated: false }).dataset;
  } catch (err) {
    // The offsets of `rest` are not the file's: say where the data ends instead.
    if (!(err instanceof TruncatedError)) throw err;
    const view = new DataView(rest.buffer, rest.byteOffset, Math.min(rest.length, 4));
    const pixelFirst = rest.length >= 4 &&
      ((view.getUint16(0, enc.littleEndian) << 16) | view.getUint16(2, enc.littleEndian)) >>> 0 ===
        PIXEL_DATA;
    throw new Error(
      pixelFirst && err.offset === 0
        ? "file ends inside the pixel data"
        : "file ends inside an element after the pixel data",
    );
  }
  const pixel = dataset.elements.find((e) => e.tag === PIXEL_DATA);
  const pixelEnd = pixel ? pixel.end : 0;
  if (pixel) put(rest.subarray(pixel.offset, pixel.end));
  const before = dataset.elements.filter((e) => e.offset < (pixel?.offset ?? 0));
  if (before.length) throw new Error("elements before the pixel data were not in the header");
  if (pixelEnd < rest.length) writeTrailer(put, rest.subarray(pixelEnd), ctx, enc);
}

function writeTrailer(put: Put, tail: Uint8Array, ctx: Ctx, enc: Enc) {
  const { dataset } = parseDataSet(tail, { ...enc, deflated: false });
  const out = rewriteDataSet(tail, dataset, makeEditor({ ...ctx, bytes: tail }, dataset), enc);
  put(out);
}

/** Reads the identifiers back from the rewritten header. */
function identifiersOf(header: Uint8Array, enc: Enc, sopClassUid: string): DeidIdentifiers {
  const { dataset } = parseDataSet(header, { ...enc, deflated: false });
  const get = (tag: number, ds: DataSet = dataset) => {
    const el = findElement(ds, tag);
    return el && el.length > 0 ? stringValue(header, el) : "";
  };
  return {
    patientId: get(0x00100020),
    patientName: get(0x00100010),
    studyInstanceUid: get(0x0020000d),
    seriesInstanceUid: get(0x0020000e),
    sopInstanceUid: get(0x00080018),
    sopClassUid,
  };
}
