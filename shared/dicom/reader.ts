/**
 * A tolerant DICOM element reader over bytes already in memory. It records where every element
 * sits (offsets into the buffer) instead of decoding values, so callers can copy untouched bytes
 * as they are and decode only what they need. Sequences are parsed to any depth; encapsulated
 * pixel data is recorded as fragments.
 */
import { vrOf } from "./dictionary.ts";
import { type Encoding, TransferSyntax } from "./uids.ts";
import { trimValue } from "./values.ts";

/** One element: where it sits in the buffer and, for sequences, its items. */
export interface Element {
  tag: number;
  vr: string;
  /** Offset of the element's first header byte. */
  offset: number;
  /** Offset of the first value byte. */
  valueOffset: number;
  /** Value length in bytes; -1 when the element has undefined length. */
  length: number;
  /** Offset just past the element, delimiters included. */
  end: number;
  items?: DataSet[];
  /** The items are implicit VR little endian whatever the data set's encoding (a sequence sent as UN). */
  itemsImplicit?: boolean;
  fragments?: Fragment[];
}

/** A fragment of encapsulated pixel data (the first one is the Basic Offset Table). */
export interface Fragment {
  valueOffset: number;
  length: number;
}

/** A data set or a sequence item. */
export interface DataSet {
  elements: Element[];
  offset: number;
  end: number;
  /** True when the item had undefined length (ends with an Item Delimitation Item). */
  undefinedLength?: boolean;
}

/** The buffer ended before the element at `offset` was complete. */
export class TruncatedError extends Error {
  override name = "TruncatedError";
  constructor(public readonly offset: number, message = `data ends inside the element at byte ${offset}`) {
    super(message);
  }
}

/** The bytes are not a DICOM data set in the expected encoding. */
export class DicomParseError extends Error {
  override name = "DicomParseError";
  constructor(message: string, public readonly offset: number) {
    super(`${message} (at byte ${offset})`);
  }
}

export interface ParseOptions {
  /** Stop before the first top-level element whose tag is at least this (e.g. 0x7FE00010). */
  stopAtTag?: number;
  /** Where the data set starts; default 0. */
  start?: number;
  /** Where it ends; default the buffer's end. */
  end?: number;
  /** The buffer is a prefix of the data: running out of bytes is a TruncatedError, never the end. */
  partial?: boolean;
}

export interface ParseResult {
  dataset: DataSet;
  /** True when parsing stopped at `stopAtTag` rather than at the end. */
  stopped: boolean;
}

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const KNOWN_VRS = new Set([
  "AE",
  "AS",
  "AT",
  "CS",
  "DA",
  "DS",
  "DT",
  "FD",
  "FL",
  "IS",
  "LO",
  "LT",
  "OB",
  "OD",
  "OF",
  "OL",
  "OV",
  "OW",
  "PN",
  "SH",
  "SL",
  "SQ",
  "SS",
  "ST",
  "SV",
  "TM",
  "UC",
  "UI",
  "UL",
  "UN",
  "UR",
  "US",
  "UT",
  "UV",
]);

const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const UNDEFINED = 0xffffffff;
export const PIXEL_DATA = 0x7fe00010;

class Cursor {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly littleEndian: boolean) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u16(at: number): number {
    return this.view.getUint16(at, this.littleEndian);
  }
  u32(at: number): number {
    return this.view.getUint32(at, this.littleEndian);
  }
  tag(at: number): number {
    return ((this.u16(at) << 16) | this.u16(at + 2)) >>> 0;
  }
}

/** Parses a data set encoded with `encoding` (never deflated here: inflate first). */
export function parseDataSet(bytes: Uint8Array, encoding: Encoding, options: ParseOptions = {}): ParseResult {
  const cursor = new Cursor(bytes, encoding.littleEndian);
  const start = options.start ?? 0;
  const end = options.end ?? bytes.length;
  const result = readItemBody(cursor, encoding.explicit, start, end, false, options.stopAtTag, 0);
  if (options.partial && !result.stopped) {
    throw new TruncatedError(result.dataset.end, "prefix ends before the header does");
  }
  return { dataset: result.dataset, stopped: result.stopped };
}

interface BodyResult {
  dataset: DataSet;
  stopped: boolean;
}

function readItemBody(
  c: Cursor,
  explicit: boolean,
  start: number,
  end: number,
  untilDelimiter: boolean,
  stopAtTag: number | undefined,
  depth: number,
): BodyResult {
  if (depth > 64) throw new DicomParseError("sequences nested deeper than 64 levels", start);
  const elements: Element[] = [];
  let at = start;
  while (at < end) {
    if (at + 8 > c.bytes.length) {
      if (untilDelimiter || end > c.bytes.length || depth > 0) throw new TruncatedError(at);
      // fewer than 8 stray bytes after the last element of a whole file: padding, not data
      return { dataset: { elements, offset: start, end: at }, stopped: false };
    }
    const tag = c.tag(at);
    if (tag === 0 && depth === 0 && !untilDelimiter && allZero(c.bytes, at, Math.min(end, c.bytes.length))) {
      // Zero bytes to the end after the last element: trailing padding (structure.ts), not elements.
      return { dataset: { elements, offset: start, end: at }, stopped: false };
    }
    if (tag === ITEM_DELIMITATION) {
      if (!untilDelimiter) throw new DicomParseError("item delimiter outside an item", at);
      return { dataset: { elements, offset: start, end: at + 8, undefinedLength: true }, stopped: false };
    }
    if (tag === SEQUENCE_DELIMITATION || tag === ITEM) {
      throw new DicomParseError(`unexpected delimiter ${tag.toString(16)} in a data set`, at);
    }
    if (depth === 0 && stopAtTag !== undefined && tag >= stopAtTag) {
      return { dataset: { elements, offset: start, end: at }, stopped: true };
    }
    const el = readElement(c, explicit, at, depth);
    if (el.end > end && !untilDelimiter) {
      if (end >= c.bytes.length) throw new TruncatedError(at);
      throw new DicomParseError("element runs past the end of its item", at);
    }
    elements.push(el);
    at = el.end;
  }
  if (untilDelimiter) throw new TruncatedError(at, "data ends before an item delimiter");
  return { dataset: { elements, offset: start, end: at }, stopped: false };
}

function allZero(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false;
  return true;
}

function readElement(c: Cursor, explicit: boolean, at: number, depth: number): Element {
  const tag = c.tag(at);
  let vr: string;
  let length: number;
  let valueOffset: number;
  const group = tag >>> 16;
  if (explicit && group !== 0xfffe) {
    vr = String.fromCharCode(c.bytes[at + 4], c.bytes[at + 5]);
    if (!KNOWN_VRS.has(vr)) {
      if (!/^[A-Z]{2}$/.test(vr)) throw new DicomParseError(`invalid VR bytes for ${hex(tag)}`, at);
    }
    if (LONG_VRS.has(vr)) {
      if (at + 12 > c.bytes.length) throw new TruncatedError(at);
      length = c.u32(at + 8);
      valueOffset = at + 12;
    } else {
      length = c.u16(at + 6);
      valueOffset = at + 8;
    }
  } else {
    vr = vrOf(tag);
    length = c.u32(at + 4);
    valueOffset = at + 8;
  }

  if (length === UNDEFINED) {
    if (tag === PIXEL_DATA || vr.startsWith("O")) {
      const fragments = readFragments(c, valueOffset);
      const last = fragments.length ? fragments[fragments.length - 1] : undefined;
      const endOfFragments = last ? last.valueOffset + last.length : valueOffset;
      return { tag, vr, offset: at, valueOffset, length: -1, end: endOfFragments + 8, fragments };
    }
    // SQ, or UN/implicit with undefined length: a sequence (UN ones are implicit VR little endian).
    const itemsExplicit = vr === "UN" ? false : explicit;
    const sub = vr === "UN" && !c.littleEndian ? new Cursor(c.bytes, true) : c;
    const { items, end } = readItems(sub, itemsExplicit, valueOffset, undefined, depth);
    const el: Element = { tag, vr: vr === "UN" ? "SQ" : vr, offset: at, valueOffset, length: -1, end, items };
    if (vr === "UN") el.itemsImplicit = true;
    return el;
  }

  const end = valueOffset + length;
  if (end > c.bytes.length) {
    throw new TruncatedError(at);
  }
  if (vr === "SQ") {
    const { items } = readItems(c, explicit, valueOffset, end, depth);
    return { tag, vr, offset: at, valueOffset, length, end, items };
  }
  return { tag, vr, offset: at, valueOffset, length, end };
}

function readItems(
  c: Cursor,
  explicit: boolean,
  start: number,
  end: number | undefined,
  depth: number,
): { items: DataSet[]; end: number } {
  const items: DataSet[] = [];
  let at = start;
  while (end === undefined || at < end) {
    if (at + 8 > c.bytes.length) throw new TruncatedError(at, "data ends inside a sequence");
    const tag = c.tag(at);
    const length = c.u32(at + 4);
    if (tag === SEQUENCE_DELIMITATION) {
      if (end !== undefined) throw new DicomParseError("sequence delimiter in a defined-length sequence", at);
      return { items, end: at + 8 };
    }
    if (tag !== ITEM) throw new DicomParseError(`expected an item, found tag ${hex(tag)}`, at);
    if (length === UNDEFINED) {
      const body = readItemBody(c, explicit, at + 8, Number.MAX_SAFE_INTEGER, true, undefined, depth + 1);
      body.dataset.offset = at;
      items.push(body.dataset);
      at = body.dataset.end;
    } else {
      const itemEnd = at + 8 + length;
      if (itemEnd > c.bytes.length) throw new TruncatedError(at, "data ends inside a sequence item");
      const body = readItemBody(c, explicit, at + 8, itemEnd, false, undefined, depth + 1);
      items.push({ elements: body.dataset.elements, offset: at, end: itemEnd });
      at = itemEnd;
    }
  }
  return { items, end: at };
}

function readFragments(c: Cursor, start: number): Fragment[] {
  const fragments: Fragment[] = [];
  let at = start;
  for (;;) {
    if (at + 8 > c.bytes.length) throw new TruncatedError(at, "data ends inside encapsulated pixel data");
    const tag = c.tag(at);
    const length = c.u32(at + 4);
    if (tag === SEQUENCE_DELIMITATION) return fragments;
    if (tag !== ITEM) throw new DicomParseError(`expected a fragment item, found ${hex(tag)}`, at);
    if (length === UNDEFINED) throw new DicomParseError("fragment with undefined length", at);
    if (at + 8 + length > c.bytes.length) throw new TruncatedError(at, "data ends inside a fragment");
    fragments.push({ valueOffset: at + 8, length });
    at += 8 + length;
  }
}

function hex(tag: number): string {
  return tag.toString(16).padStart(8, "0");
}

/**
 * Parses the items of a standard sequence sent as UN with a defined length (PS3.5 6.2.2: its value is
 * implicit VR little endian items), in place: the element gets `items` and `itemsImplicit`. Returns
 * false, leaving the element as it was, when the value does not parse as items.
 */
export function parseUnSequence(bytes: Uint8Array, el: Element): boolean {
  if (el.items || el.length < 0) return false;
  try {
    const c = new Cursor(bytes, true);
    const { items } = readItems(c, false, el.valueOffset, el.valueOffset + el.length, 1);
    el.items = items;
    el.itemsImplicit = true;
    return true;
  } catch {
    return false;
  }
}

/** Finds a top-level element by tag. */
export function findElement(ds: DataSet, tag: number): Element | undefined {
  // elements are usually ascending: a linear scan is fine for header-sized sets
  for (const el of ds.elements) if (el.tag === tag) return el;
  return undefined;
}

/** The result of reading a Part 10 file's preamble and File Meta group. */
export interface Part10Header {
  /** Offset of the data set (just past group 0002). */
  datasetOffset: number;
  transferSyntax: string;
  sopClassUid?: string;
  sopInstanceUid?: string;
  meta: DataSet;
  hasPreamble: boolean;
}

/**
 * Reads the preamble and File Meta group. Files without a preamble, or without a meta group
 * at all (then the transfer syntax is guessed from the first element), are accepted.
 */
export function readPart10Header(bytes: Uint8Array): Part10Header {
  const latin = (a: number, b: number) => String.fromCharCode(...bytes.subarray(a, b));
  let at = 0;
  let hasPreamble = false;
  if (bytes.length >= 132 && latin(128, 132) === "DICM") {
    at = 132;
    hasPreamble = true;
  } else if (bytes.length >= 4 && latin(0, 4) === "DICM") {
    at = 4;
  }
  const c = new Cursor(bytes, true);
  if (bytes.length < at + 8) throw new TruncatedError(at, "file shorter than a DICOM header");
  if (c.u16(at) !== 0x0002) {
    if (hasPreamble) throw new DicomParseError("no File Meta group after DICM", at);
    return {
      datasetOffset: at,
      transferSyntax: guessTransferSyntax(bytes, at),
      meta: emptySet(at),
      hasPreamble,
    };
  }
  const elements: Element[] = [];
  while (at + 8 <= bytes.length && c.u16(at) === 0x0002) {
    const el = readElement(c, true, at, 0);
    elements.push(el);
    at = el.end;
  }
  const meta: DataSet = { elements, offset: elements[0]?.offset ?? at, end: at };
  const str = (tag: number) => {
    const el = findElement(meta, tag);
    return el ? trimValue(latin(el.valueOffset, el.valueOffset + el.length)) : undefined;
  };
  const transferSyntax = str(0x00020010) || guessTransferSyntax(bytes, at);
  return {
    datasetOffset: at,
    transferSyntax,
    sopClassUid: str(0x00020002),
    sopInstanceUid: str(0x00020003),
    meta,
    hasPreamble,
  };
}

function emptySet(at: number): DataSet {
  return { elements: [], offset: at, end: at };
}

function guessTransferSyntax(bytes: Uint8Array, at: number): string {
  if (bytes.length < at + 6) return TransferSyntax.ImplicitVRLittleEndian;
  const vr = String.fromCharCode(bytes[at + 4], bytes[at + 5]);
  if (!KNOWN_VRS.has(vr)) return TransferSyntax.ImplicitVRLittleEndian;
  // explicit: group bytes tell the byte order (group 0008 is 08 00 little endian, 00 08 big endian)
  return bytes[at] === 0 && bytes[at + 1] !== 0
    ? TransferSyntax.ExplicitVRBigEndian
    : TransferSyntax.ExplicitVRLittleEndian;
}
