/**
 * The byte-level core of de-identification: walks a parsed data set and writes it again, copying
 * every element that no action touches as the bytes it was (value, VR, length form and order), and
 * re-encoding only what changes. Sequences are walked to any depth; one whose content changed is
 * written with undefined lengths, one that did not is copied as it was. Pixel data is never decoded:
 * the caller copies it (and whatever follows it) as bytes.
 */
import type { DataSet, Element } from "@conduit/shared/dicom";

/** What happens to one element (PS3.15 E.1-1 action codes, resolved to one per element). */
export type Edit =
  | { action: "keep" }
  | { action: "remove" }
  | { action: "empty" }
  | { action: "replace"; value: Uint8Array };

/** Decides the edit for an element; `path` lists the sequence tags above it (empty at top level). */
export type Editor = (el: Element, path: number[]) => Edit;

/** Elements to add at the top level (kept in tag order with the rest), already encoded as values. */
export interface Addition {
  tag: number;
  vr: string;
  value: Uint8Array;
}

export interface RewriteOptions {
  explicit: boolean;
  littleEndian: boolean;
}

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

/**
 * The rewritten bytes, written into one growing buffer: element headers in place, values copied (a
 * typed array per element costs more here than copying its bytes).
 */
class Out {
  buf = new Uint8Array(4096);
  view = new DataView(this.buf.buffer);
  length = 0;
  room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  push(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  header(tag: number, vr: string, length: number, o: RewriteOptions): void {
    this.room(12);
    this.length += writeHeader(this.view, this.buf, this.length, tag, vr, length, o);
  }
}

/** Writes an element header at `at`; returns its size. */
function writeHeader(
  v: DataView,
  b: Uint8Array,
  at: number,
  tag: number,
  vr: string,
  length: number,
  o: RewriteOptions,
): number {
  const item = tag >>> 16 === 0xfffe;
  const long = !o.explicit || LONG_VRS.has(vr) || item;
  v.setUint16(at, tag >>> 16, o.littleEndian);
  v.setUint16(at + 2, tag & 0xffff, o.littleEndian);
  if (!o.explicit || item) {
    v.setUint32(at + 4, length >>> 0, o.littleEndian);
    return 8;
  }
  b[at + 4] = vr.charCodeAt(0);
  b[at + 5] = vr.charCodeAt(1);
  if (long) {
    b[at + 6] = 0;
    b[at + 7] = 0;
    v.setUint32(at + 8, length >>> 0, o.littleEndian);
    return 12;
  }
  v.setUint16(at + 6, length, o.littleEndian);
  return 8;
}

function header(tag: number, vr: string, length: number, o: RewriteOptions): Uint8Array {
  const b = new Uint8Array(12);
  const size = writeHeader(new DataView(b.buffer), b, 0, tag, vr, length, o);
  return b.subarray(0, size);
}

const IMPLICIT_LE: RewriteOptions = { explicit: false, littleEndian: true };
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQ_END = 0xfffee0dd;
const UNDEFINED = 0xffffffff;

/**
 * Rewrites the elements of `ds` (offsets into `bytes`) onto `out`; returns whether anything changed
 * (what it wrote is then the original elements' bytes, which the caller may copy as one span instead).
 */
function rewriteSet(
  bytes: Uint8Array,
  ds: DataSet,
  edit: Editor,
  path: number[],
  o: RewriteOptions,
  out: Out,
  additions: Addition[] = [],
): boolean {
  let changed = additions.length > 0;
  const pending = additions.length ? [...additions].sort((a, b) => a.tag - b.tag) : additions;
  const flushBefore = (tag: number) => {
    while (pending.length && pending[0].tag < tag) {
      const add = pending.shift()!;
      out.header(add.tag, add.vr, add.value.length, o);
      out.push(add.value);
    }
  };
  for (const el of ds.elements) {
    if (pending.length) flushBefore(el.tag);
    if (pending.length && pending[0].tag === el.tag) {
      // An addition replaces an element already there (an earlier de-identification's values, say).
      const add = pending.shift()!;
      out.header(add.tag, add.vr, add.value.length, o);
      out.push(add.value);
      changed = true;
      continue;
    }
    const e = edit(el, path);
    if (e.action === "remove") {
      changed = true;
      continue;
    }
    if (e.action === "empty") {
      changed = true;
      out.header(el.tag, el.vr, 0, o);
      continue;
    }
    if (e.action === "replace") {
      changed = true;
      out.header(el.tag, el.vr, e.value.length, o);
      out.push(e.value);
      continue;
    }
    if (el.items) {
      // Items of a sequence sent as UN are implicit VR little endian, and are written back so.
      const io = el.itemsImplicit ? IMPLICIT_LE : o;
      const mark = out.length;
      out.header(el.tag, el.itemsImplicit ? "UN" : "SQ", UNDEFINED, o);
      let anyChanged = false;
      const inner = [...path, el.tag];
      for (const item of el.items) {
        out.header(ITEM, "", UNDEFINED, io);
        const bodyAt = out.length;
        if (rewriteSet(bytes, item, edit, inner, io, out)) anyChanged = true;
        else {
          // copy the item's elements as they were (its own header may have had a defined length)
          out.length = bodyAt;
          const first = item.elements[0]?.offset ?? item.end;
          const last = item.elements.length ? item.elements[item.elements.length - 1].end : first;
          out.push(bytes.subarray(first, last));
        }
        out.header(ITEM_END, "", 0, io);
      }
      out.header(SEQ_END, "", 0, io);
      if (!anyChanged) {
        out.length = mark;
        out.push(bytes.subarray(el.offset, el.end));
        continue;
      }
      changed = true;
      continue;
    }
    out.push(bytes.subarray(el.offset, el.end));
  }
  if (pending.length) flushBefore(0x100000000);
  return changed;
}

/** The data set's new bytes (top level), with `additions` inserted in tag order. */
export function rewriteDataSet(
  bytes: Uint8Array,
  ds: DataSet,
  edit: Editor,
  o: RewriteOptions,
  additions: Addition[] = [],
): Uint8Array {
  const out = new Out();
  if (!rewriteSet(bytes, ds, edit, [], o, out, additions)) return bytes.slice(ds.offset, ds.end);
  return out.buf.subarray(0, out.length);
}

/** Encodes a text value for a VR, padded to even length (UI with NUL, others with a space). */
export function encodeText(vr: string, text: string): Uint8Array {
  const pad = vr === "UI" ? 0 : 0x20;
  const n = text.length;
  let ascii = true;
  for (let i = 0; i < n && ascii; i++) ascii = text.charCodeAt(i) < 0x80;
  if (ascii) {
    // The common case (UIDs, pseudonyms, dummies) in one allocation.
    const out = new Uint8Array(n + (n % 2));
    for (let i = 0; i < n; i++) out[i] = text.charCodeAt(i);
    if (n % 2) out[n] = pad;
    return out;
  }
  const bytes = utf8.encode(text);
  if (bytes.length % 2 === 0) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = pad;
  return out;
}

const utf8 = new TextEncoder();

/**
 * Encodes a sequence's value: items of defined length holding the given elements in tag order, for an
 * Addition with VR SQ.
 */
export function encodeSequence(items: Addition[][], o: RewriteOptions): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const item of items) {
    const body: Uint8Array[] = [];
    for (const el of [...item].sort((a, b) => a.tag - b.tag)) {
      body.push(header(el.tag, el.vr, el.value.length, o), el.value);
    }
    const length = body.reduce((n, b) => n + b.length, 0);
    parts.push(header(ITEM, "", length, o), ...body);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
