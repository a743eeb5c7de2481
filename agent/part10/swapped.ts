/**
 * A value of a big endian object read little endian: each number of `width` bytes of the value that starts
 * at `start` comes byte-reversed, whatever the positions and lengths asked (a read is widened to whole
 * numbers, then cut back). Used for the bulk data and native frames of Explicit VR Big Endian objects,
 * which WADO-RS gives as little endian `application/octet-stream`, and to render them; `width` comes from
 * shared/dicom swapWidth (by VR: 2 for OW Pixel Data, whatever Bits Allocated says).
 */
import { encodingOf, reverseEach, swapWidth } from "@conduit/shared/dicom";
import type { FrameLayout } from "./frames.ts";
import { type ByteSource, readInto } from "./source.ts";

export function swappedSource(source: ByteSource, start: number, width: number): ByteSource {
  return {
    size: source.size,
    async read(into: Uint8Array, position: number): Promise<number> {
      const from = position - (((position - start) % width) + width) % width;
      const span = Math.ceil((position + into.length - from) / width) * width;
      const got = await readInto(source, from, new Uint8Array(span));
      reverseEach(got, width);
      const part = got.subarray(position - from, position - from + into.length);
      into.set(part);
      return part.length;
    },
    close: () => source.close(),
  };
}

/**
 * Where to read the native frames of `layout` little endian: `source` itself, or, for a big endian object,
 * `source` with the pixel value's numbers reversed by its VR (OW by 16-bit words, whatever Bits Allocated).
 */
export function littleEndianFrames(source: ByteSource, layout: FrameLayout): ByteSource {
  if (layout.encapsulated || !layout.value || encodingOf(layout.transferSyntax).littleEndian) return source;
  const width = swapWidth(layout.value.vr);
  return width > 1 ? swappedSource(source, layout.value.offset, width) : source;
}
