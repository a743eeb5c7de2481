/**
 * Encapsulated pixel data read from a source item header by item header, never loading the fragments:
 * where each fragment lies (frames), and where the element ends (de-identification copies it as bytes).
 * `shared/dicom/reader.ts` walks the same items in bytes already in memory.
 */
import type { Fragment } from "@conduit/shared/dicom";
import { type ByteSource, readUpTo } from "./source.ts";

const ITEM = 0xfffee000;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
/** More fragments than any real object has: a loop guard. */
const MAX_FRAGMENTS = 1_000_000;

/** Encapsulated pixel data that cannot be walked; the message says why. */
export class FragmentError extends Error {
  override name = "FragmentError";
}

/**
 * The fragments of encapsulated pixel data whose first item starts at `offset` (the first fragment is
 * the Basic Offset Table), and the offset just past its sequence delimiter.
 */
export async function readFragments(
  source: ByteSource,
  offset: number,
  littleEndian: boolean,
): Promise<{ fragments: Fragment[]; end: number }> {
  const fragments: Fragment[] = [];
  for (let at = offset; fragments.length < MAX_FRAGMENTS;) {
    const head = await readUpTo(source, at, 8);
    if (head.length < 8) throw new FragmentError("the object ends inside its encapsulated pixel data");
    const v = new DataView(head.buffer, head.byteOffset, 8);
    const tag = (v.getUint16(0, littleEndian) << 16 | v.getUint16(2, littleEndian)) >>> 0;
    const length = v.getUint32(4, littleEndian);
    if (tag === SEQUENCE_DELIMITATION) return { fragments, end: at + 8 };
    if (tag !== ITEM || length === 0xffffffff) {
      throw new FragmentError(`encapsulated pixel data is malformed at byte ${at}`);
    }
    fragments.push({ valueOffset: at + 8, length });
    at += 8 + length;
  }
  throw new FragmentError("too many fragments");
}
