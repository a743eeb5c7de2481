/** An independent strict walker of explicit VR little endian Part 10 files, for the generator's tests. */
import assert from "node:assert/strict";
import { generateStudies, type GenerateStudiesOptions, type InstanceSpec } from "./mod.ts";

export interface Walked {
  tag: number;
  vr: string;
  /** Offset of the element's first header byte. */
  offset: number;
  valueOffset: number;
  length: number;
}

const LONG = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
export const SPACE_PADDED = new Set([
  "AE",
  "AS",
  "CS",
  "DA",
  "DS",
  "DT",
  "IS",
  "LO",
  "LT",
  "PN",
  "SH",
  "ST",
  "TM",
]);

/** Walks elements from `at` to `end`; with `end` undefined, the whole buffer. Header-only buffers work. */
export function walk(bytes: Uint8Array, at: number, end = bytes.length): Walked[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Walked[] = [];
  while (at < end) {
    const tag = (view.getUint16(at, true) << 16 | view.getUint16(at + 2, true)) >>> 0;
    const vr = String.fromCharCode(bytes[at + 4], bytes[at + 5]);
    assert.match(vr, /^[A-Z]{2}$/, `VR at ${at}`);
    const long = LONG.has(vr);
    if (long) assert.equal(view.getUint16(at + 6, true), 0, `reserved bytes of ${tag.toString(16)}`);
    const length = long ? view.getUint32(at + 8, true) : view.getUint16(at + 6, true);
    const valueOffset = at + (long ? 12 : 8);
    out.push({ tag, vr, offset: at, valueOffset, length });
    // a header-only buffer ends at the Pixel Data value
    if (tag === 0x7fe00010 && valueOffset === bytes.length) break;
    at = valueOffset + length;
  }
  return out;
}

export function text(bytes: Uint8Array, el: Walked): string {
  return String.fromCharCode(...bytes.subarray(el.valueOffset, el.valueOffset + el.length));
}

export function find(els: Walked[], tag: number): Walked {
  const el = els.find((e) => e.tag === tag);
  assert.ok(el, `element ${tag.toString(16).padStart(8, "0")} present`);
  return el;
}

export function str(bytes: Uint8Array, els: Walked[], tag: number): string {
  return text(bytes, find(els, tag)).replace(/[\0 ]+$/, "");
}

export function us(bytes: Uint8Array, els: Walked[], tag: number): number {
  const el = find(els, tag);
  assert.equal(el.vr, "US");
  return new DataView(bytes.buffer, bytes.byteOffset).getUint16(el.valueOffset, true);
}

/** Splits a Part 10 file into its meta elements (group length included) and data set elements. */
export function parts(
  bytes: Uint8Array,
): { groupLength: number; meta: Walked[]; dataset: Walked[]; datasetOffset: number } {
  assert.ok(bytes.subarray(0, 128).every((b) => b === 0), "preamble is zeros");
  assert.equal(String.fromCharCode(...bytes.subarray(128, 132)), "DICM");
  const [gl] = walk(bytes, 132, 144);
  assert.equal(gl.tag, 0x00020000);
  assert.equal(gl.vr, "UL");
  assert.equal(gl.length, 4);
  const groupLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(gl.valueOffset, true);
  const all = walk(bytes, 144);
  const meta = all.filter((e) => e.tag >>> 16 === 0x0002);
  const dataset = all.filter((e) => e.tag >>> 16 !== 0x0002);
  return { groupLength, meta, dataset, datasetOffset: dataset[0].offset };
}

export function collect(specs: Iterable<InstanceSpec>): InstanceSpec[] {
  return [...specs];
}

export function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

export const OPTS: GenerateStudiesOptions = {
  seed: "conduit-test",
  patients: 2,
  studiesPerPatient: 2,
  series: [{ modality: "CT", instances: 3 }, { modality: "MR", instances: 2 }],
  rows: 64,
  columns: 48,
};

export const firstCt = () => collect(generateStudies(OPTS)).find((s) => s.modality === "CT")!;
export const firstMr = () => collect(generateStudies(OPTS)).find((s) => s.modality === "MR")!;
