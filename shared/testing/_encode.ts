/** Explicit VR Little Endian encoding of the few element kinds the generator writes. */

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

/** Maximum value length per value (PS3.5 6.2) for the string VRs used here. */
const MAX_LENGTH: Record<string, number> = {
  AE: 16,
  CS: 16,
  DA: 8,
  DS: 16,
  IS: 12,
  LO: 64,
  PN: 64,
  SH: 16,
  TM: 16,
  UI: 64,
};

export type Value = string | string[] | number[];

export interface Attr {
  tag: number;
  vr: string;
  value: Value;
}

/** ISO_IR 100 (Latin-1) bytes of a string, padded to even length with `pad`. */
function latin1(text: string, pad: number): Uint8Array {
  const n = text.length;
  const out = new Uint8Array(n + (n & 1));
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`character U+${c.toString(16)} is not in ISO_IR 100: ${text}`);
    out[i] = c;
  }
  if (n & 1) out[n] = pad;
  return out;
}

function valueBytes(attr: Attr): Uint8Array {
  const { vr, value } = attr;
  if (vr === "US" || vr === "UL") {
    const nums = value as number[];
    const size = vr === "US" ? 2 : 4;
    const out = new Uint8Array(nums.length * size);
    const view = new DataView(out.buffer);
    nums.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v >= 2 ** (8 * size)) {
        throw new RangeError(`${tagText(attr.tag)} ${vr} value out of range: ${v}`);
      }
      if (size === 2) view.setUint16(i * 2, v, true);
      else view.setUint32(i * 4, v, true);
    });
    return out;
  }
  if (vr === "OB") return Uint8Array.from(value as number[]);
  const values = typeof value === "string" ? [value] : value as string[];
  const max = MAX_LENGTH[vr];
  if (max !== undefined) {
    for (const v of values) {
      if (v.length > max) throw new RangeError(`${tagText(attr.tag)} ${vr} value longer than ${max}: ${v}`);
    }
  }
  if (vr === "UI") {
    for (const v of values) {
      if (!isValidUid(v)) throw new RangeError(`${tagText(attr.tag)} is not a valid UID: ${v}`);
    }
  }
  return latin1(values.join("\\"), vr === "UI" ? 0 : 0x20);
}

function tagText(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0");
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

/** The length of one element (header and value) in explicit VR little endian. */
function elementLength(vr: string, valueLength: number): number {
  return (LONG_VRS.has(vr) ? 12 : 8) + valueLength;
}

/** Writes an element header at `at`; returns the offset of the value. */
export function writeElementHeader(
  out: Uint8Array,
  at: number,
  tag: number,
  vr: string,
  length: number,
): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint16(at, tag >>> 16, true);
  view.setUint16(at + 2, tag & 0xffff, true);
  out[at + 4] = vr.charCodeAt(0);
  out[at + 5] = vr.charCodeAt(1);
  if (LONG_VRS.has(vr)) {
    view.setUint16(at + 6, 0, true);
    view.setUint32(at + 8, length, true);
    return at + 12;
  }
  if (length > 0xffff) throw new RangeError(`${tagText(tag)} ${vr} value too long: ${length}`);
  view.setUint16(at + 6, length, true);
  return at + 8;
}

/** Encodes elements (sorted here into ascending tag order) one after another. */
export function encodeElements(attrs: Attr[]): Uint8Array {
  const sorted = [...attrs].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].tag === sorted[i - 1].tag) throw new Error(`duplicate element ${tagText(sorted[i].tag)}`);
  }
  const values = sorted.map(valueBytes);
  const total = sorted.reduce((n, a, i) => n + elementLength(a.vr, values[i].length), 0);
  const out = new Uint8Array(total);
  let at = 0;
  sorted.forEach((a, i) => {
    at = writeElementHeader(out, at, a.tag, a.vr, values[i].length);
    out.set(values[i], at);
    at += values[i].length;
  });
  return out;
}

/** A decimal string (DS) of at most 16 characters. */
export function ds(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`DS value is not finite: ${n}`);
  let s = String(n);
  for (let p = 15; s.length > 16 && p > 0; p--) s = String(Number(n.toPrecision(p)));
  return s;
}

/** True for a syntactically valid UID: at most 64 characters, numeric components, no leading zeros. */
export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(uid);
}
