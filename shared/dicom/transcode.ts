/**
 * Implicit VR Little Endian to Explicit VR Little Endian: the same elements, values and order, each
 * header rewritten with its VR. Sequences and items are written with undefined lengths (so no length
 * has to be recomputed); values are copied as bytes. VRs come from the dictionary: US or SS for the
 * dictionary's "xs" by Pixel Representation, OW or OB for "ox" by Bits Allocated, UL for group lengths, LO
 * for private creators, UN for other private and unknown tags (whose values PS3.5 lets travel as UN).
 */
import { attributeByTag } from "./dictionary.ts";
import type { DataSet } from "./reader.ts";

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

export interface ImageFacts {
  pixelRepresentation: number;
  bitsAllocated: number;
}

/** The explicit VR VR for a tag, given the image's facts. */
function explicitVr(tag: number, facts: ImageFacts): string {
  const element = tag & 0xffff;
  // Group lengths are UL; a private group's creators (gggg,0010-00FF) are LO (PS3.5 7.2, 7.8.1).
  if (element === 0) return "UL";
  if ((tag >>> 16) % 2 === 1 && element >= 0x10 && element <= 0xff) return "LO";
  const vr = attributeByTag(tag)?.vr.split(/\s*(?:or|\|)\s*/)[0] ?? "UN";
  if (vr === "xs") return facts.pixelRepresentation === 1 ? "SS" : "US";
  if (vr === "ox") return facts.bitsAllocated > 8 ? "OW" : "OB";
  return /^[A-Z]{2}$/.test(vr) ? vr : "UN";
}

/** An explicit VR little endian element header (a 2-byte length VR too long for it becomes UN). */
export function explicitHeader(tag: number, vr: string, length: number): Uint8Array {
  if (!LONG_VRS.has(vr) && length > 0xffff) vr = "UN";
  const long = LONG_VRS.has(vr);
  const out = new Uint8Array(long ? 12 : 8);
  const v = new DataView(out.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) v.setUint32(8, length >>> 0, true);
  else v.setUint16(6, length, true);
  return out;
}

function delimiter(tag: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  v.setUint32(4, length >>> 0, true);
  return out;
}

/** Re-encodes the elements of `ds` (parsed as implicit VR little endian from `bytes`) as explicit VR. */
export function implicitToExplicit(bytes: Uint8Array, ds: DataSet, facts: ImageFacts): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const el of ds.elements) {
    if (el.items) {
      out.push(explicitHeader(el.tag, "SQ", 0xffffffff));
      for (const item of el.items) {
        out.push(delimiter(0xfffee000, 0xffffffff));
        out.push(...implicitToExplicit(bytes, item, facts));
        out.push(delimiter(0xfffee00d, 0));
      }
      out.push(delimiter(0xfffee0dd, 0));
      continue;
    }
    if (el.length < 0) {
      throw new Error(`element ${el.tag.toString(16)} has an undefined length outside a sequence`);
    }
    out.push(explicitHeader(el.tag, explicitVr(el.tag, facts), el.length));
    out.push(bytes.subarray(el.valueOffset, el.valueOffset + el.length));
  }
  return out;
}

/**
 * Explicit VR Little Endian to Implicit VR Little Endian: the same elements, values and order, each header
 * rewritten without its VR (tag and 32-bit length). Sequences and items are written with undefined lengths;
 * values are copied as bytes. Encapsulated pixel data has no implicit VR form and is refused.
 */
export function explicitToImplicit(bytes: Uint8Array, ds: DataSet): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const el of ds.elements) {
    if (el.items) {
      out.push(delimiter(el.tag, 0xffffffff));
      for (const item of el.items) {
        out.push(delimiter(0xfffee000, 0xffffffff));
        out.push(...explicitToImplicit(bytes, item));
        out.push(delimiter(0xfffee00d, 0));
      }
      out.push(delimiter(0xfffee0dd, 0));
      continue;
    }
    if (el.length < 0 || el.fragments) {
      throw new Error(`element ${el.tag.toString(16)} has an undefined length outside a sequence`);
    }
    out.push(delimiter(el.tag, el.length));
    out.push(bytes.subarray(el.valueOffset, el.valueOffset + el.length));
  }
  return out;
}

/** Bytes per number of the VRs whose values change with the byte order (AT is two 16-bit numbers). */
const SWAP_WIDTH: Readonly<Record<string, number>> = {
  AT: 2,
  OW: 2,
  SS: 2,
  US: 2,
  FL: 4,
  OF: 4,
  OL: 4,
  SL: 4,
  UL: 4,
  FD: 8,
  OD: 8,
  OV: 8,
  SV: 8,
  UV: 8,
};

/**
 * Bytes per number of a value of `vr` whose byte order a big endian object reverses; 1 when none. The one
 * rule for every path that turns a big endian value little endian (C-STORE re-encoding, WADO-RS instances,
 * frames and bulk data, rendering). Pixel Data goes by its VR too, whatever Bits Allocated says: OW is a
 * stream of 16-bit words, each pixel cell packed into them least significant bit first and continued in
 * the next word, and only the byte order of those words depends on the transfer syntax (PS3.5 2016b 8.2,
 * Annex D), so a 32-bit sample big endian is its low word then its high word, each big endian (as DCMTK
 * and GDCM write and read it), not the sample's four bytes reversed; OB is never swapped.
 */
export function swapWidth(vr: string): number {
  return SWAP_WIDTH[vr] ?? 1;
}

/** Reverses, in place, each whole number of `width` bytes of `value` (a partial last one is left). */
export function reverseEach(value: Uint8Array, width: number): void {
  if (width < 2) return;
  for (let at = 0; at + width <= value.length; at += width) value.subarray(at, at + width).reverse();
}

/**
 * Explicit VR Big Endian (retired) to Explicit VR Little Endian: the same elements, VRs, values and order,
 * each header rewritten little endian and each binary value's numbers byte-swapped by its VR (text, OB and
 * UN values copied as they are); sequences and items with undefined lengths (a UN sequence's items, implicit
 * VR little endian already, copied).
 */
export function bigToLittleEndian(bytes: Uint8Array, ds: DataSet): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const el of ds.elements) {
    if (el.itemsImplicit) {
      // A UN sequence of undefined length: its items are Implicit VR Little Endian already (PS3.5 6.2.2).
      out.push(explicitHeader(el.tag, "UN", 0xffffffff));
      out.push(bytes.subarray(el.valueOffset, el.end));
      continue;
    }
    if (el.items) {
      out.push(explicitHeader(el.tag, "SQ", 0xffffffff));
      for (const item of el.items) {
        out.push(delimiter(0xfffee000, 0xffffffff));
        out.push(...bigToLittleEndian(bytes, item));
        out.push(delimiter(0xfffee00d, 0));
      }
      out.push(delimiter(0xfffee0dd, 0));
      continue;
    }
    if (el.length < 0 || el.fragments) {
      throw new Error(`element ${el.tag.toString(16)} has an undefined length outside a sequence`);
    }
    const value = bytes.slice(el.valueOffset, el.valueOffset + el.length);
    const width = swapWidth(el.vr);
    if (value.length % width) {
      throw new Error(`element ${el.tag.toString(16)} (${el.vr}) has a partial value`);
    }
    reverseEach(value, width);
    out.push(explicitHeader(el.tag, el.vr, el.length));
    out.push(value);
  }
  return out;
}
