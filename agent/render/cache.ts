/**
 * The site's thumbnail cache: encoded thumbnails as files under `<data>/thumbnails/`, at most `maxBytes`
 * of them (their file sizes added up). The least recently used go first when a new one would pass the
 * bound; a thumbnail larger than the bound is not kept. The files outlive a restart: at start the folder
 * is listed, the oldest by modification time counted as least recently used (a hit touches its file),
 * and anything over the bound removed. Keys name what was rendered (the object's checksum included), so
 * a replaced object never gets its old thumbnail, and start with the object's tag (`objectTag`), so that
 * an erasure removes the thumbnails of what it erased (`removeObjects`); those named before the tag are
 * removed at start (`removeUntagged`).
 */
import * as path from "node:path";
import { createHash } from "node:crypto";

/** The first 16 hex digits of the SHA-256 of a SOP Instance UID: how a cache file names its object. */
export function objectTag(sopInstanceUid: string): string {
  return createHash("sha256").update(sopInstanceUid).digest("hex").slice(0, 16);
}

/** A cache file's name: `<object tag>-<64 hex>.jpg|png` (or `<64 hex>`, as versions before the tag wrote). */
const NAME = /^((?:[0-9a-f]{16}-)?[0-9a-f]{64})\.(jpg|png)$/;

/** A cache file's name as versions before the tag wrote it: `<64 hex>.jpg|png`. */
const UNTAGGED = /^[0-9a-f]{64}\.(jpg|png)$/;

/** Removes the files of `dir` whose name `test` accepts (none when it does not exist); how many went. */
async function removeWhere(dir: string, test: (name: string) => boolean): Promise<number> {
  let removed = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !test(e.name)) continue;
      await Deno.remove(path.join(dir, e.name)).then(() => removed++, () => {});
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return removed;
}

interface Entry {
  file: string;
  size: number;
}

export class ThumbnailCache {
  /** In use order: the first is the least recently used. */
  #entries = new Map<string, Entry>();
  #bytes = 0;

  private constructor(private readonly dir: string, readonly maxBytes: number) {}

  /** Opens (creating) the cache folder, takes what it holds and trims it to `maxBytes`. */
  static async open(dir: string, maxBytes: number): Promise<ThumbnailCache> {
    const cache = new ThumbnailCache(dir, maxBytes);
    await Deno.mkdir(dir, { recursive: true });
    const found: { key: string; entry: Entry; mtime: number }[] = [];
    for await (const e of Deno.readDir(dir)) {
      const file = path.join(dir, e.name);
      const key = NAME.exec(e.name)?.[1];
      if (!e.isFile || !key) {
        // A temporary file left by a crash, or something that is not ours to keep.
        if (e.isFile && e.name.endsWith(".part")) await Deno.remove(file).catch(() => {});
        continue;
      }
      const st = await Deno.stat(file);
      found.push({ key, entry: { file, size: st.size }, mtime: st.mtime?.getTime() ?? 0 });
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      cache.#entries.set(f.key, f.entry);
      cache.#bytes += f.entry.size;
    }
    await cache.#trim(0);
    return cache;
  }

  /**
   * Removes the thumbnails of the objects `sopInstanceUids` from the cache folder `dir` (an erasure; the
   * running cache, if any, finds them gone and forgets them). Resolves with how many files were removed.
   */
  static removeObjects(dir: string, sopInstanceUids: Iterable<string>): Promise<number> {
    const tags = new Set([...sopInstanceUids].map(objectTag));
    return removeWhere(dir, (name) => {
      const tag = /^([0-9a-f]{16})-/.exec(name)?.[1];
      return tag !== undefined && tags.has(tag) && NAME.test(name);
    });
  }

  /**
   * Removes the thumbnails named before their object's tag (`<64 hex>.jpg|png`, versions before 2026-12-05)
   * from the cache folder `dir`: no erasure can tell whose they are, so they go at start, before the cache
   * is opened (made again when asked). Resolves with how many files were removed.
   */
  static removeUntagged(dir: string): Promise<number> {
    return removeWhere(dir, (name) => UNTAGGED.test(name));
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  get count(): number {
    return this.#entries.size;
  }

  /** The thumbnail under `key`, or undefined. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    try {
      const bytes = await Deno.readFile(entry.file);
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      const now = new Date();
      await Deno.utime(entry.file, now, now).catch(() => {});
      return bytes;
    } catch {
      this.#drop(key, entry);
      return undefined;
    }
  }

  /** Keeps `bytes` under `key`, making room first. */
  async put(key: string, bytes: Uint8Array, ext: "jpg" | "png"): Promise<void> {
    if (bytes.byteLength > this.maxBytes) return;
    const old = this.#entries.get(key);
    if (old) this.#drop(key, old);
    await this.#trim(bytes.byteLength);
    const file = path.join(this.dir, `${key}.${ext}`);
    const part = `${file}.${crypto.randomUUID()}.part`;
    try {
      await Deno.writeFile(part, bytes);
      await Deno.rename(part, file);
    } catch {
      await Deno.remove(part).catch(() => {});
      return; // a cache that cannot write just does not keep this one
    }
    const raced = this.#entries.get(key); // the same thumbnail put twice at once
    if (raced) this.#drop(key, raced);
    this.#entries.set(key, { file, size: bytes.byteLength });
    this.#bytes += bytes.byteLength;
  }

  #drop(key: string, entry: Entry) {
    this.#entries.delete(key);
    this.#bytes -= entry.size;
  }

  /** Removes the least recently used until `room` more bytes fit. */
  async #trim(room: number) {
    for (const [key, entry] of this.#entries) {
      if (this.#bytes + room <= this.maxBytes) return;
      this.#drop(key, entry);
      await Deno.remove(entry.file).catch(() => {});
    }
  }
}
