/**
 * A Part 10 object holding only some frames of another, for transcoding a few frames of a many-frame
 * object without the rest (WADO-RS `/frames` in a syntax the object is not stored in): the original's
 * bytes up to its pixel data, Number of Frames set to the frames taken, then pixel data of those frames
 * alone, in the order asked: native, one after another; encapsulated, an empty Basic Offset Table and
 * one fragment per frame. Nothing after the pixel data is kept (a transcoder needs none of it).
 */
import { encodingOf, findElement, numberValues, stringValue } from "@conduit/shared/dicom";
import { frameLayout } from "./frames.ts";
import { pixelDataElement, readHeader } from "./header.ts";
import { type ByteSource, readExactly } from "./source.ts";

const NUMBER_OF_FRAMES = 0x00280008;
const BITS_ALLOCATED = 0x00280100;

/**
 * The object in `source` with only frames `wanted` (1-based), or undefined when taking them saves
 * nothing or is not done here: one frame, every frame asked, no Number of Frames element, big endian or
 * deflated data sets, 1-bit pixels (packed across frames), Float Pixel Data. Throws FrameError for a frame
 * the object does not have.
 */
export async function frameSubset(source: ByteSource, wanted: number[]): Promise<Uint8Array | undefined> {
  const file = await readHeader(source);
  const encoding = encodingOf(file.header.transferSyntax);
  if (encoding.deflated || !encoding.littleEndian) return undefined;
  const framesEl = findElement(file.dataset, NUMBER_OF_FRAMES);
  const count = framesEl ? Number(stringValue(file.bytes, framesEl)) || 1 : 1;
  if (!framesEl || count <= 1 || wanted.length >= count) return undefined;
  const bits = findElement(file.dataset, BITS_ALLOCATED);
  if (bits && numberValues(file.bytes, bits, true)[0] === 1) return undefined;
  const pixels = await pixelDataElement(file, source);
  if (!pixels) return undefined;
  const layout = await frameLayout(source, wanted);

  const parts: Uint8Array[] = [
    file.bytes.subarray(0, framesEl.offset),
    element(NUMBER_OF_FRAMES, "IS", ascii(evenText(String(wanted.length))), encoding.explicit),
    file.bytes.subarray(framesEl.end, file.dataset.end),
  ];
  const frames: Uint8Array[] = [];
  for (const frame of layout.frames) {
    const bytes = new Uint8Array(frame.size);
    let at = 0;
    for (const p of frame.pieces) {
      bytes.set(await readExactly(source, p.offset, p.length), at);
      at += p.length;
    }
    frames.push(bytes);
  }
  if (layout.encapsulated) {
    parts.push(pixelHeader(pixels.vr, 0xffffffff, true), item(new Uint8Array(0)));
    for (const f of frames) parts.push(item(f.length % 2 ? padded(f) : f));
    parts.push(tagBytes(0xfffee0dd, 0));
  } else {
    const total = frames.reduce((n, f) => n + f.length, 0);
    parts.push(pixelHeader(pixels.vr, total + (total % 2), encoding.explicit), ...frames);
    if (total % 2) parts.push(new Uint8Array(1));
  }
  return concat(parts);
}

const ascii = (text: string) => new TextEncoder().encode(text);
const evenText = (text: string) => (text.length % 2 ? `${text} ` : text);

/** A tag (little endian) followed by a 4-byte length: an item or a delimiter. */
function tagBytes(tag: number, length: number): Uint8Array {
  const out = new Uint8Array(8);
  const v = new DataView(out.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  v.setUint32(4, length, true);
  return out;
}

function item(value: Uint8Array): Uint8Array {
  return concat([tagBytes(0xfffee000, value.length), value]);
}

function padded(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** A short element (2-byte length in explicit VR) with its value. */
function element(tag: number, vr: string, value: Uint8Array, explicit: boolean): Uint8Array {
  if (!explicit) return concat([tagBytes(tag, value.length), value]);
  const head = new Uint8Array(8);
  const v = new DataView(head.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  head[4] = vr.charCodeAt(0);
  head[5] = vr.charCodeAt(1);
  v.setUint16(6, value.length, true);
  return concat([head, value]);
}

/** The Pixel Data element's header: explicit VR (OB or OW, a 4-byte length) or implicit. */
function pixelHeader(vr: string, length: number, explicit: boolean): Uint8Array {
  if (!explicit) return tagBytes(0x7fe00010, length);
  const head = new Uint8Array(12);
  const v = new DataView(head.buffer);
  v.setUint16(0, 0x7fe0, true);
  v.setUint16(2, 0x0010, true);
  head[4] = vr.charCodeAt(0);
  head[5] = vr.charCodeAt(1);
  v.setUint32(8, length, true);
  return head;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
