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

class Out {
  parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
}

function header(tag: number, vr: string, length: number, o: RewriteOptions): Uint8Array {
  const long = !o.explicit || LONG_VRS.has(vr) || tag >>> 16 === 0xfffe;
  const size = !o.explicit || tag >>> 16 === 0xfffe ? 8 : long ? 12 : 8;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  v.setUint16(0, tag >>> 16, o.littleEndian);
  v.setUint16(2, tag & 0xffff, o.littleEndian);
  if (!o.explicit || tag >>> 16 === 0xfffe) {
    v.setUint32(4, length >>> 0, o.littleEndian);
  } else {
    b[4] = vr.charCodeAt(0);
    b[5] = vr.charCodeAt(1);
    if (long) v.setUint32(8, length >>> 0, o.littleEndian);
    else v.setUint16(6, length, o.littleEndian);
  }
  return b;
}

const IMPLICIT_LE: RewriteOptions = { explicit: false, littleEndian: true };
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQ_END = 0xfffee0dd;
const UNDEFINED = 0xffffffff;

/**
 * Rewrites the elements of `ds` (offsets into `bytes`) and returns the new bytes, or `undefined` when
 * nothing changed (the caller can then copy the original span).
 */
function rewriteSet(
  bytes: Uint8Array,
  ds: DataSet,
  edit: Editor,
  path: number[],
  o: RewriteOptions,
  additions: Addition[] = [],
): Uint8Array[] | undefined {
  const out = new Out();
  let changed = additions.length > 0;
  const pending = [...additions].sort((a, b) => a.tag - b.tag);
  const flushBefore = (tag: number) => {
    while (pending.length && pending[0].tag < tag) {
      const add = pending.shift()!;
      out.push(header(add.tag, add.vr, add.value.length, o));
      out.push(add.value);
    }
  };
  for (const el of ds.elements) {
    flushBefore(el.tag);
    if (pending.length && pending[0].tag === el.tag) {
      // An addition replaces an element already there (an earlier de-identification's values, say).
      const add = pending.shift()!;
      out.push(header(add.tag, add.vr, add.value.length, o));
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
      out.push(header(el.tag, el.vr, 0, o));
      continue;
    }
    if (e.action === "replace") {
      changed = true;
      out.push(header(el.tag, el.vr, e.value.length, o));
      out.push(e.value);
      continue;
    }
    if (el.items) {
      // Items of a sequence sent as UN are implicit VR little endian, and are written back so.
      const io = el.itemsImplicit ? IMPLICIT_LE : o;
      const items = el.items.map((item) => rewriteSet(bytes, item, edit, [...path, el.tag], io));
      if (items.every((i) => i === undefined)) {
        out.push(bytes.subarray(el.offset, el.end));
        continue;
      }
      changed = true;
      out.push(header(el.tag, el.itemsImplicit ? "UN" : "SQ", UNDEFINED, o));
      el.items.forEach((item, i) => {
        out.push(header(ITEM, "", UNDEFINED, io));
        const body = items[i];
        if (body) { for (const p of body) out.push(p); }
        else {
          // copy the item's elements as they were (its own header may have had a defined length)
          const first = item.elements[0]?.offset ?? item.end;
          const last = item.elements.length ? item.elements[item.elements.length - 1].end : first;
          out.push(bytes.subarray(first, last));
        }
        out.push(header(ITEM_END, "", 0, io));
      });
      out.push(header(SEQ_END, "", 0, io));
      continue;
    }
    out.push(bytes.subarray(el.offset, el.end));
  }
  flushBefore(0x100000000);
  return changed ? out.parts : undefined;
}

/** The data set's new bytes (top level), with `additions` inserted in tag order. */
export function rewriteDataSet(
  bytes: Uint8Array,
  ds: DataSet,
  edit: Editor,
  o: RewriteOptions,
  additions: Addition[] = [],
): Uint8Array {
  const parts = rewriteSet(bytes, ds, edit, [], o, additions);
  if (!parts) return bytes.slice(ds.offset, ds.end);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const result = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    result.set(p, at);
    at += p.length;
  }
  return result;
}

/** Encodes a text value for a VR, padded to even length (UI with NUL, others with a space). */
export function encodeText(vr: string, text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length % 2 === 0) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = vr === "UI" ? 0 : 0x20;
  return out;
}

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
