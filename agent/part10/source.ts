/**
 * Bytes read at positions: a stored object as the archive opens it, a local file, or bytes in memory.
 * Everything that reads Part 10 objects (headers, frames, bulk data, de-identification, sending) reads
 * through this, so none of it needs to know where the bytes live.
 */
import * as fs from "node:fs";

export interface ByteSource {
  /** Bytes in the source. */
  readonly size: number;
  /** Reads into `into` from `position`; resolves with the count read (fewer only at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/** The source ended before the bytes a header or the index promised. */
export class ShortSourceError extends Error {
  override name = "ShortSourceError";
}

/** Reads exactly `length` bytes at `position`; throws ShortSourceError (with `what`) when the source ends first. */
export async function readExactly(
  source: ByteSource,
  position: number,
  length: number,
  what = "the object ends early",
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let got = 0; got < length;) {
    const n = await source.read(out.subarray(got), position + got);
    if (n <= 0) throw new ShortSourceError(what);
    got += n;
  }
  return out;
}

/** Reads up to `length` bytes at `position` (fewer at the end). */
export function readUpTo(source: ByteSource, position: number, length: number): Promise<Uint8Array> {
  return readInto(source, position, new Uint8Array(Math.max(0, Math.min(length, source.size - position))));
}

/** Fills `into` from `position` (less at the end); resolves with the part filled. */
export async function readInto(source: ByteSource, position: number, into: Uint8Array): Promise<Uint8Array> {
  let got = 0;
  while (got < into.length) {
    const n = await source.read(into.subarray(got), position + got);
    if (n <= 0) break;
    got += n;
  }
  return into.subarray(0, got);
}

/**
 * A local file opened for reading (the agent's own files, and files named on the command line), through
 * Deno's own file: one trip through the thread pool per read (node:fs's positioned read takes four, seeks
 * included: issue 16). Reads at a position are one after another on the file's one offset.
 */
export async function openFile(path: string): Promise<ByteSource> {
  const file = await Deno.open(path, { read: true });
  try {
    const { size } = await file.stat();
    let offset = 0;
    let last: Promise<unknown> = Promise.resolve();
    let closed = false;
    const readAt = async (into: Uint8Array, position: number): Promise<number> => {
      try {
        if (position !== offset) offset = file.seekSync(position, Deno.SeekMode.Start);
        const n = into.length === 0 ? 0 : (await file.read(into)) ?? 0;
        offset += n;
        return n;
      } catch (err) {
        offset = -1; // where the file stands is not known: the next read seeks
        throw err;
      }
    };
    return {
      size,
      read: (into, position) => {
        const read = last.then(() => readAt(into, position));
        last = read.catch(() => {});
        return read;
      },
      // Closing twice is harmless: a caller that closes on an error and an owner that closes after
      // it (archive.ts's withObject) would otherwise replace that error with BadResource.
      close: async () => {
        if (closed) return;
        closed = true;
        await last;
        file.close();
      },
    };
  } catch (err) {
    file.close();
    throw err;
  }
}

/**
 * A local file opened for reading with blocking calls: cheaper per object than `openFile` (no trip through
 * the thread pool), for batches on a worker or a command line's thread, never on an agent's event loop.
 */
export function openFileSync(path: string): ByteSource {
  const fd = fs.openSync(path, "r");
  try {
    const { size } = fs.fstatSync(fd);
    return {
      size,
      read: (into, position) => Promise.resolve(fs.readSync(fd, into, 0, into.length, position)),
      close: () => Promise.resolve(fs.closeSync(fd)),
    };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/** Bytes in memory as a source (a transcoded object, a test's generated file). */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: (into, position) => {
      const piece = bytes.subarray(
        Math.min(position, bytes.length),
        Math.min(position + into.length, bytes.length),
      );
      into.set(piece);
      return Promise.resolve(piece.length);
    },
    close: () => Promise.resolve(),
  };
}

/** Runs `fn` on a source once it is open, and closes it after. */
export async function withSource<T>(
  open: Promise<ByteSource>,
  fn: (source: ByteSource) => Promise<T>,
): Promise<T> {
  const source = await open;
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}
