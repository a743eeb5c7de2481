/**
 * A Deflated Explicit VR Little Endian data set (PS3.5 A.5) inflated as a stream: the deflated bytes are
 * read from the source a block at a time and the inflated ones come out as zlib gives them, so an object
 * of any size costs a few blocks of memory. What comes out is the same data set in Explicit VR Little
 * Endian (the deflate stream holds nothing else; a pad byte after its end is ignored).
 */
import { Readable } from "node:stream";
import { createInflateRaw } from "node:zlib";
import type { ByteSource } from "./source.ts";

const BLOCK = 256 * 1024;

/** The bytes of `source` from 0 to `size`, a block at a time; throws when it is shorter. */
async function* blocks(source: ByteSource, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < size;) {
    const block = new Uint8Array(Math.min(BLOCK, size - at));
    const n = await source.read(block, at);
    if (n <= 0) throw new InflateError(`the deflated data set ends at byte ${at}, before its ${size}`);
    at += n;
    yield block.subarray(0, n);
  }
}

/** A deflated data set that does not inflate. */
export class InflateError extends Error {
  override name = "InflateError";
}

/**
 * The inflated bytes of the deflated data set that is `source` (its first `size` bytes), in order, in blocks of
 * at most `chunkSize` bytes.
 */
export async function* inflated(
  source: ByteSource,
  size: number,
  chunkSize = BLOCK,
): AsyncGenerator<Uint8Array> {
  const inflate = createInflateRaw({ chunkSize });
  const input = Readable.from(blocks(source, size), { objectMode: false });
  input.on("error", (err) => inflate.destroy(err));
  input.pipe(inflate);
  try {
    for await (const chunk of inflate) yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  } catch (err) {
    // zlib's own errors (Z_DATA_ERROR, Z_BUF_ERROR: not deflate, or cut short) say the data is bad.
    const code = (err as { code?: unknown }).code;
    if (typeof code !== "string" || !code.startsWith("Z_")) throw err;
    throw new InflateError(`the deflated data set does not inflate: ${(err as Error).message}`);
  } finally {
    input.destroy();
    inflate.destroy();
  }
}

/**
 * A reader of the inflated data set that is `source` (its first `size` bytes) for reads in order only (each
 * from where the last one ended, or further on): what lies between is inflated and skipped. For a bulk value of
 * a deflated object, sent from the middle of its inflated data set (memory: a few blocks).
 */
export function inflatedReader(
  source: ByteSource,
  size: number,
): { read(into: Uint8Array, position: number): Promise<number>; close(): Promise<void> } {
  const blocks = inflated(source, size);
  let block: Uint8Array = new Uint8Array(0);
  /** The inflated position of `block`'s first byte. */
  let at = 0;
  return {
    async read(into, position) {
      if (position < at) throw new InflateError("an inflated data set is read in order only");
      while (position >= at + block.length) {
        at += block.length;
        const next = await blocks.next();
        if (next.done) return 0;
        block = next.value;
      }
      const from = block.subarray(position - at);
      const n = Math.min(into.length, from.length);
      into.set(from.subarray(0, n));
      return n;
    },
    close: async () => {
      await blocks.return(undefined);
    },
  };
}
