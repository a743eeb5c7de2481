/**
 * A value of a big endian object read little endian: each number of `width` bytes of the value that starts
 * at `start` comes byte-reversed, whatever the positions and lengths asked (a read is widened to whole
 * numbers, then cut back). Used for the bulk data of Explicit VR Big Endian objects, which WADO-RS gives
 * as little endian `application/octet-stream`.
 */
import { type ByteSource, readInto } from "./source.ts";

export function swappedSource(source: ByteSource, start: number, width: number): ByteSource {
  return {
    size: source.size,
    async read(into: Uint8Array, position: number): Promise<number> {
      const from = position - (((position - start) % width) + width) % width;
      const span = Math.ceil((position + into.length - from) / width) * width;
      const got = await readInto(source, from, new Uint8Array(span));
      for (let at = 0; at + width <= got.length; at += width) got.subarray(at, at + width).reverse();
      const part = got.subarray(position - from, position - from + into.length);
      into.set(part);
      return part.length;
    },
    close: () => source.close(),
  };
}
