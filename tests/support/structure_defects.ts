/**
 * Data sets with the structure defects every way in refuses (agent/ingest/checks.ts): File Meta elements
 * (group 0002) at the start of the data set, an explicit VR that PS3.5 Table 6.2-1 does not list, and an
 * undefined length on an element that is neither SQ, UN nor Pixel Data. Each is made from a generated CT's
 * Explicit VR Little Endian data set, and may be wrapped in a Part 10 file, deflated or not.
 */
import { deflateRawSync } from "node:zlib";
import { buildFileMeta, TransferSyntax } from "@conduit/shared/dicom";
import { ctObject } from "./faults.ts";

export type Defect = "file-meta" | "unknown-vr" | "undefined-length";
export const DEFECTS: Defect[] = ["file-meta", "unknown-vr", "undefined-length"];

/** What the agent's refusal says for each defect. */
export const DEFECT_REASON: Record<Defect, RegExp> = {
  "file-meta": /data set begins with File Meta elements \(group 0002\)/,
  "unknown-vr": /invalid VR XX \(no DICOM VR\) for \(0008,0060\)/,
  "undefined-length": /undefined length for \(0008,1140\) of VR UT/,
};

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

function le16(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff];
}
function le32(n: number): number[] {
  return [...le16(n & 0xffff), ...le16(n >>> 16)];
}
function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}

/** Where the top-level element `tag` (or the first one after it) starts in an explicit VR LE data set. */
function offsetOf(dataset: Uint8Array, tag: number): number {
  const view = new DataView(dataset.buffer, dataset.byteOffset, dataset.byteLength);
  let at = 0;
  while (at + 8 <= dataset.length) {
    const here = ((view.getUint16(at, true) << 16) | view.getUint16(at + 2, true)) >>> 0;
    if (here >= tag) return at;
    const vr = String.fromCharCode(dataset[at + 4], dataset[at + 5]);
    at += LONG_VRS.has(vr) ? 12 + view.getUint32(at + 8, true) : 8 + view.getUint16(at + 6, true);
  }
  throw new Error(`no element at or after ${tag.toString(16)}`);
}

function spliced(dataset: Uint8Array, at: number, remove: number, insert: number[]): Uint8Array {
  const out = new Uint8Array(dataset.length - remove + insert.length);
  out.set(dataset.subarray(0, at));
  out.set(insert, at);
  out.set(dataset.subarray(at + remove), at + insert.length);
  return out;
}

/** `dataset` (Explicit VR Little Endian) with `defect`. */
export function withDefect(dataset: Uint8Array, defect: Defect): Uint8Array {
  switch (defect) {
    case "file-meta": {
      // (0002,0010) Transfer Syntax UID, as a sender might leave it in: Explicit VR Big Endian
      const uid = ascii(TransferSyntax.ExplicitVRBigEndian);
      if (uid.length % 2) uid.push(0);
      return spliced(dataset, 0, 0, [
        ...le16(0x0002),
        ...le16(0x0010),
        ...ascii("UI"),
        ...le16(uid.length),
        ...uid,
      ]);
    }
    case "unknown-vr": {
      // Modality's CS becomes XX (two capital letters PS3.5 does not list)
      const out = dataset.slice();
      const at = offsetOf(out, 0x00080060);
      out.set(ascii("XX"), at + 4);
      return out;
    }
    case "undefined-length": {
      // (0008,1140) as UT of undefined length, closed by a sequence delimiter (DCMTK cannot read it)
      const element = [...le16(0x0008), ...le16(0x1140), ...ascii("UT"), 0, 0, ...le32(0xffffffff)];
      const delimiter = [...le16(0xfffe), ...le16(0xe0dd), ...le32(0)];
      return spliced(dataset, offsetOf(dataset, 0x00081140), 0, [...element, ...delimiter]);
    }
  }
}

/** A data set deflated as PS3.5 A.5 says (raw deflate, padded to an even length). */
export function deflated(dataset: Uint8Array): Uint8Array {
  const raw = new Uint8Array(deflateRawSync(dataset));
  if (raw.length % 2 === 0) return raw;
  const out = new Uint8Array(raw.length + 1);
  out.set(raw);
  return out;
}

/** A Part 10 file of `dataset` in `transferSyntax` (already encoded in it). */
export function part10(
  object: { sopClassUid: string; sopInstanceUid: string },
  dataset: Uint8Array,
  transferSyntax: string,
): Uint8Array {
  const meta = buildFileMeta({ ...object, transferSyntax });
  const out = new Uint8Array(meta.length + dataset.length);
  out.set(meta);
  out.set(dataset, meta.length);
  return out;
}

/** A generated CT whose data set has `defect` (`key` makes its UIDs), as a Part 10 file, deflated or not. */
export function defectiveObject(key: string, defect: Defect, deflate = false) {
  const object = ctObject(key, { rows: 16, columns: 16 });
  const dataset = withDefect(object.dataset, defect);
  const syntax = deflate
    ? TransferSyntax.DeflatedExplicitVRLittleEndian
    : TransferSyntax.ExplicitVRLittleEndian;
  const sent = deflate ? deflated(dataset) : dataset;
  return { ...object, dataset: sent, bytes: part10(object, sent, syntax), transferSyntax: syntax };
}
