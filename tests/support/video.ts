/**
 * A small Video Photographic Image in MPEG-4 AVC/H.264 (Explicit VR Little Endian Part 10 bytes, built
 * here: no test package ships one), for tests of what is done with a syntax nothing here decodes.
 */
import { buildFileMeta, explicitHeader } from "@conduit/shared/dicom";

export const MPEG4 = "1.2.840.10008.1.2.4.102";
const VIDEO_PHOTOGRAPHIC = "1.2.840.10008.5.1.4.1.1.77.1.4.1";

/** An element in explicit VR little endian (values padded to even length as their VR pads). */
function element(tag: number, vr: string, value: string | Uint8Array): Uint8Array[] {
  let bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
  if (bytes.length % 2) bytes = new Uint8Array([...bytes, vr === "UI" ? 0 : 0x20]);
  return [explicitHeader(tag, vr, bytes.length), bytes];
}

const us = (n: number) => new Uint8Array(new Uint16Array([n]).buffer);

/** An item of encapsulated pixel data (or the sequence delimiter, `tag` 0xE0DD). */
function item(bytes: Uint8Array, tag = 0xe000): Uint8Array[] {
  const head = new Uint8Array(8);
  const v = new DataView(head.buffer);
  v.setUint16(0, 0xfffe, true);
  v.setUint16(2, tag, true);
  v.setUint32(4, bytes.length, true);
  return [head, bytes];
}

/** A small Video Photographic Image in MPEG-4 AVC/H.264 whose "bitstream" is three fragments of noise. */
export function mpeg4Object(study: string): { bytes: Uint8Array; fragments: Uint8Array[] } {
  const fragments = [1000, 64, 4002].map((n) => crypto.getRandomValues(new Uint8Array(n)));
  const sop = `2.25.${BigInt(`0x${crypto.randomUUID().replaceAll("-", "")}`)}`;
  const chunks = [
    buildFileMeta({ sopClassUid: VIDEO_PHOTOGRAPHIC, sopInstanceUid: sop, transferSyntax: MPEG4 }),
    ...element(0x00080016, "UI", VIDEO_PHOTOGRAPHIC),
    ...element(0x00080018, "UI", sop),
    ...element(0x00080060, "CS", "XC"),
    ...element(0x0020000d, "UI", study),
    // A series UID of its own: `${study}.1` would pass 64 characters for a long study UID.
    ...element(0x0020000e, "UI", `2.25.${BigInt(`0x${crypto.randomUUID().replaceAll("-", "")}`)}`),
    ...element(0x00280002, "US", us(3)),
    ...element(0x00280004, "CS", "YBR_PARTIAL_420"),
    ...element(0x00280006, "US", us(0)),
    ...element(0x00280008, "IS", "30"),
    ...element(0x00280010, "US", us(64)),
    ...element(0x00280011, "US", us(64)),
    ...element(0x00280100, "US", us(8)),
    ...element(0x00280101, "US", us(8)),
    ...element(0x00280102, "US", us(7)),
    ...element(0x00280103, "US", us(0)),
    explicitHeader(0x7fe00010, "OB", 0xffffffff),
    ...item(new Uint8Array(0)),
    ...fragments.flatMap((f) => item(f)),
    ...item(new Uint8Array(0), 0xe0dd),
  ];
  return { bytes: new Uint8Array(chunks.flatMap((c) => [...c])), fragments };
}
