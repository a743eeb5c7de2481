/** Writing a File Meta Information group (PS3.10 7.1) in explicit VR little endian. */
import { Implementation } from "./uids.ts";

export interface FileMetaFields {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntax: string;
  /** The AE title the object came from; written as (0002,0016) when given. */
  sourceAet?: string;
}

/** The elements of group 0002 after its group length: tag, VR, value (ASCII text, or bytes), padding. */
type MetaElement = [tag: number, vr: string, value: string | Uint8Array, pad: number];

const VERSION = new Uint8Array([0, 1]);

/**
 * Builds the 128-byte preamble, `DICM` and group 0002 with a correct group length, in one buffer (this
 * runs once per object written: a batch de-identification pays for every allocation).
 */
export function buildFileMeta(fields: FileMetaFields): Uint8Array {
  const elements: MetaElement[] = [
    [0x00020001, "OB", VERSION, 0],
    [0x00020002, "UI", fields.sopClassUid, 0],
    [0x00020003, "UI", fields.sopInstanceUid, 0],
    [0x00020010, "UI", fields.transferSyntax, 0],
    [0x00020012, "UI", Implementation.classUid, 0],
    [0x00020013, "SH", Implementation.versionName, 0x20],
  ];
  if (fields.sourceAet) elements.push([0x00020016, "AE", fields.sourceAet.trim(), 0x20]);
  let groupLength = 0;
  for (const [, vr, value] of elements) groupLength += (vr === "OB" ? 12 : 8) + even(byteLength(value));
  const out = new Uint8Array(132 + 12 + groupLength);
  const view = new DataView(out.buffer);
  out.set([0x44, 0x49, 0x43, 0x4d], 128); // DICM
  let at = 132;
  const header = (tag: number, vr: string, length: number) => {
    view.setUint16(at, tag >>> 16, true);
    view.setUint16(at + 2, tag & 0xffff, true);
    out[at + 4] = vr.charCodeAt(0);
    out[at + 5] = vr.charCodeAt(1);
    if (vr === "OB") {
      view.setUint32(at + 8, length, true);
      at += 12;
    } else {
      view.setUint16(at + 6, length, true);
      at += 8;
    }
  };
  header(0x00020000, "UL", 4);
  view.setUint32(at, groupLength, true);
  at += 4;
  for (const [tag, vr, value, pad] of elements) {
    const n = byteLength(value);
    header(tag, vr, even(n));
    if (typeof value === "string") at += ascii.encodeInto(value, out.subarray(at)).written;
    else {
      out.set(value, at);
      at += n;
    }
    if (n % 2) out[at++] = pad;
  }
  return out;
}

const ascii = new TextEncoder();

function byteLength(value: string | Uint8Array): number {
  if (typeof value !== "string") return value.length;
  for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) >= 0x80) return ascii.encode(value).length;
  return value.length;
}

function even(n: number): number {
  return n + (n % 2);
}
