/**
 * SHA-256 of a range of a stored object, read in blocks: what the index records of an object's data set
 * when its bytes were not hashed as they arrived (C-STORE: ingest/backfill.ts), and what checks a copy.
 */
import { createHash, type Hash } from "node:crypto";
import type { ByteSource } from "./source.ts";

const BLOCK = 1 << 20;

/**
 * Adds `length` bytes of `source` from `offset` to `hash`; throws when the source is shorter. `block`: a
 * buffer to read into (a caller hashing many objects one after another passes the same one), else one is
 * allocated.
 */
export async function addRange(
  hash: Hash,
  source: ByteSource,
  offset: number,
  length: number,
  block: Uint8Array = new Uint8Array(Math.min(BLOCK, Math.max(1, length))),
): Promise<void> {
  for (let done = 0; done < length;) {
    const n = await source.read(block.subarray(0, Math.min(block.length, length - done)), offset + done);
    if (n <= 0) throw new ShortObjectError(offset + done);
    hash.update(block.subarray(0, n));
    done += n;
  }
}

/** The SHA-256 (hex) of `length` bytes of `source` from `offset` (`block`: as addRange's). */
export async function sha256Of(
  source: ByteSource,
  offset: number,
  length: number,
  block?: Uint8Array,
): Promise<string> {
  const hash = createHash("sha256");
  await addRange(hash, source, offset, length, block);
  return hash.digest("hex");
}

/** The object ended before the length its index or header gave. */
export class ShortObjectError extends Error {
  constructor(at: number) {
    super(`the object ends at byte ${at}, before the length recorded for it`);
    this.name = "ShortObjectError";
  }
}
