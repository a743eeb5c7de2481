/** Writing a File Meta Information group (PS3.10 7.1) in explicit VR little endian. */
import { Implementation } from "./uids.ts";

export interface FileMetaFields {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntax: string;
  /** The AE title the object came from; written as (0002,0016) when given. */
  sourceAet?: string;
}

const ascii = new TextEncoder();

function element(tag: number, vr: string, value: Uint8Array): Uint8Array {
  const long = vr === "OB";
  const out = new Uint8Array((long ? 12 : 8) + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, tag >>> 16, true);
  view.setUint16(2, tag & 0xffff, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) view.setUint32(8, value.length, true);
  else view.setUint16(6, value.length, true);
  out.set(value, long ? 12 : 8);
  return out;
}

function text(value: string, pad: number): Uint8Array {
  const bytes = ascii.encode(value);
  if (bytes.length % 2 === 0) return bytes;
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  out[bytes.length] = pad;
  return out;
}

/** Builds the 128-byte preamble, `DICM` and group 0002 with a correct group length. */
export function buildFileMeta(fields: FileMetaFields): Uint8Array {
  const parts = [
    element(0x00020001, "OB", new Uint8Array([0, 1])),
    element(0x00020002, "UI", text(fields.sopClassUid, 0)),
    element(0x00020003, "UI", text(fields.sopInstanceUid, 0)),
    element(0x00020010, "UI", text(fields.transferSyntax, 0)),
    element(0x00020012, "UI", text(Implementation.classUid, 0)),
    element(0x00020013, "SH", text(Implementation.versionName, 0x20)),
  ];
  if (fields.sourceAet) parts.push(element(0x00020016, "AE", text(fields.sourceAet.trim(), 0x20)));
  const groupLength = parts.reduce((n, p) => n + p.length, 0);
  const lengthValue = new Uint8Array(4);
  new DataView(lengthValue.buffer).setUint32(0, groupLength, true);
  const header = element(0x00020000, "UL", lengthValue);
  const out = new Uint8Array(132 + header.length + groupLength);
  out.set(ascii.encode("DICM"), 128);
  let at = 132;
  out.set(header, at);
  at += header.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
