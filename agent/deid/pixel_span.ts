/**
 * Where the pixel data element of a file ends, read from the file without loading it: a native value
 * has its length in the header; encapsulated pixel data is walked fragment header by fragment header to
 * its sequence delimiter.
 */
import * as fs from "node:fs";
import { PIXEL_DATA } from "@conduit/shared/dicom/reader.ts";

const ITEM = 0xfffee000;
const SEQUENCE_DELIMITATION = 0xfffee0dd;

/**
 * The offset just past the pixel data element that starts at `at` in the open file `fd` (of `size`
 * bytes), or `at` itself when the element there is not pixel data (or nothing is there).
 */
export function pixelDataEnd(
  fd: number,
  at: number,
  size: number,
  enc: { explicit: boolean; littleEndian: boolean },
): number {
  const head = new Uint8Array(12);
  const view = new DataView(head.buffer);
  const read = (pos: number, n: number) => fs.readSync(fd, head, 0, n, pos);
  if (at + 8 > size || read(at, 12) < 8) return at;
  const le = enc.littleEndian;
  const tag = ((view.getUint16(0, le) << 16) | view.getUint16(2, le)) >>> 0;
  if (tag !== PIXEL_DATA) return at;
  const long = enc.explicit;
  const length = long ? view.getUint32(8, le) : view.getUint32(4, le);
  let pos = at + (long ? 12 : 8);
  if (length !== 0xffffffff) {
    if (pos + length > size) throw new Error("file ends inside the pixel data");
    return (pos + length);
  }
  for (;;) {
    if (pos + 8 > size || read(pos, 8) < 8) throw new Error("file ends inside the encapsulated pixel data");
    const itemTag = ((view.getUint16(0, le) << 16) | view.getUint16(2, le)) >>> 0;
    const itemLength = view.getUint32(4, le);
    if (itemTag === SEQUENCE_DELIMITATION) return (pos + 8);
    if (itemTag !== ITEM || itemLength === 0xffffffff) {
      throw new Error(`unexpected tag in the encapsulated pixel data at byte ${pos}`);
    }
    pos += 8 + itemLength;
  }
}
