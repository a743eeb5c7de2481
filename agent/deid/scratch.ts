/**
 * Buffers for whole-object reads, kept from one object to the next: a fresh half-megabyte buffer per
 * object costs more than the read into it (the allocator zeroes and maps it anew, and the collector
 * frees it later). A buffer is taken for one object and given back when its output is written; up to
 * two are kept per thread (a route may de-identify two objects at once), at most `WHOLE_FILE` each.
 */
const spare: ArrayBuffer[] = [];
const KEEP = 2;
/** Sizes are rounded up to this, so objects of a series share their buffer. */
const STEP = 1024 * 1024;

/** A buffer of `size` bytes (its content is whatever it last held). */
export function takeBuffer(size: number): Uint8Array {
  const i = spare.findIndex((b) => b.byteLength >= size);
  const buffer = i >= 0 ? spare.splice(i, 1)[0] : new ArrayBuffer(Math.ceil(Math.max(size, 1) / STEP) * STEP);
  return new Uint8Array(buffer, 0, size);
}

/** Gives back a buffer from `takeBuffer` once nothing refers to its bytes. */
export function giveBack(bytes: Uint8Array): void {
  if (spare.length < KEEP) spare.push(bytes.buffer as ArrayBuffer);
}
