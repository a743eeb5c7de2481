/**
 * Where the pixel data element of an object ends, read without loading it: a native value has its length
 * in the header; encapsulated pixel data is walked fragment header by fragment header to its sequence
 * delimiter (part10/fragments.ts).
 */
import { PIXEL_DATA } from "@conduit/shared/dicom";
import { readFragments } from "../part10/fragments.ts";
import { type ByteSource, readUpTo } from "../part10/source.ts";

/**
 * The offset just past the pixel data element that starts at `at` in `source` (of `size` bytes), or `at`
 * itself when the element there is not pixel data (or nothing is there).
 */
export async function pixelDataEnd(
  source: ByteSource,
  at: number,
  size: number,
  enc: { explicit: boolean; littleEndian: boolean },
): Promise<number> {
  if (at + 8 > size) return at;
  const head = await readUpTo(source, at, 12);
  if (head.length < 8) return at;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const le = enc.littleEndian;
  const tag = ((view.getUint16(0, le) << 16) | view.getUint16(2, le)) >>> 0;
  if (tag !== PIXEL_DATA) return at;
  const long = enc.explicit;
  if (long && head.length < 12) throw new Error("file ends inside the pixel data");
  const length = long ? view.getUint32(8, le) : view.getUint32(4, le);
  const pos = at + (long ? 12 : 8);
  if (length !== 0xffffffff) {
    if (pos + length > size) throw new Error("file ends inside the pixel data");
    return pos + length;
  }
  return (await readFragments(source, pos, le)).end;
}
