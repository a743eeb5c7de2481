/**
 * The archive: where received objects, kept-aside conflicts and de-identified copies are stored, by key
 * (`archive/<Study>/<Series>/<SOP>.dcm`, `deid/<route hash>/<SOP>.dcm`; the index records keys). Callers
 * place, read, list and remove objects through this interface and never see where they are: the file
 * system (`file_archive.ts`) is the first implementation; an object store can be another.
 *
 * New objects are written to a local staging file first (a C-STORE, an object from the tunnel, a
 * de-identified copy) and synced there; `place` then makes them part of the archive, durably, so a crash
 * leaves either no object or a whole one.
 */
import type { ByteSource } from "../part10/source.ts";
import type { StoredObject } from "../part10/stored.ts";
import { datasetOf } from "../part10/stored.ts";
import { sha256Of } from "../part10/digest.ts";

export interface Archive {
  /** Whether staged files and placements are synced (dimse.sync). */
  readonly sync: boolean;
  /** Makes what the archive needs and removes staged files an earlier run left; resolves with how many. */
  prepare(): Promise<number>;
  /** A fresh local file to write a new object to before it is placed. */
  staging(): string;
  /** Makes the synced staged file the object at `key` (replacing one there), durably. */
  place(staged: string, key: string): Promise<void>;
  /**
   * Makes the object at `from` the object at `to` (replacing one there), durably, as `place` does: a crash
   * leaves it at one key or the other, whole.
   */
  move(from: string, to: string): Promise<void>;
  /** Removes a staged file that will not be placed. */
  discardStaged(staged: string): Promise<void>;
  /** The local file of `key`, for what reads an object by path (the header of a received object). */
  fileOf(key: string): string;
  /** Opens the object at `key` for reading at positions. */
  open(key: string): Promise<ByteSource>;
  /** The object's size and the time of its last change, or undefined when there is none. */
  stat(key: string): Promise<{ size: number; modifiedAt: number } | undefined>;
  /** Removes the object at `key`; nothing when there is none. */
  remove(key: string): Promise<void>;
  /**
   * Moves the file at key `from` to key `to` (its folder made if needed), unsynced; false when there is no
   * file at `from`. Erasure (erase/erase.ts) takes objects out of their places with it, its journal
   * standing in for the syncs.
   */
  takeOut(from: string, to: string): Promise<boolean>;
  /**
   * Removes the folders of `key` left empty (its series', then its study's: `archive/<Study>/<Series>/`),
   * never the top folder (`archive`, `deid`); a folder that holds anything stays. Erasure leaves no folder
   * named by an erased UID.
   */
  prune(key: string): Promise<void>;
  /** Bytes free for new objects (read at most once a second). */
  freeBytes(): number;
  /**
   * The keys under `prefix`. With `changedSince` (ms since the epoch) it may leave out keys that have not
   * changed since then; it never leaves out one that has (the file system reads only folders changed since).
   */
  list(prefix: string, options?: { changedSince?: number }): AsyncIterable<string>;
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

/** The key of an archived object, from its UIDs; throws when one is not a valid UID (a path must not come of it). */
export function objectKey(studyUid: string, seriesUid: string, sopUid: string): string {
  for (const uid of [studyUid, seriesUid, sopUid]) {
    if (!UID.test(uid) || uid.length > 64) {
      throw new Error(`not a valid UID: ${JSON.stringify(uid.slice(0, 80))}`);
    }
  }
  return `archive/${studyUid}/${seriesUid}/${sopUid}.dcm`;
}

/** The UIDs of an object key (`archive/<study>/<series>/<sop>.dcm`), or undefined for any other key. */
export function parseObjectKey(key: string): { study: string; series: string; sop: string } | undefined {
  const m = /^archive\/([0-9.]+)\/([0-9.]+)\/([0-9.]+)\.dcm$/.exec(key);
  return m ? { study: m[1], series: m[2], sop: m[3] } : undefined;
}

/**
 * Where an object received again with other bytes is kept beside the first (duplicates keepBoth):
 * `<SOP>.conflict-<first 16 hex digits of its data set's SHA-256>.dcm`. The letters make it a name no object
 * key has (a UID holds digits and dots only). Versions before this one wrote `<SOP>.<16 hex>.dcm`, which
 * looks like an object key when the 16 digits are all decimal (parseAsideKey reads both).
 */
export function asideKey(key: string, sha256: string): string {
  return key.replace(/\.dcm$/, `.conflict-${sha256.slice(0, 16)}.dcm`);
}

/**
 * What a kept-aside copy's key names: its object's UIDs and the first 16 hex digits of the copy's data set
 * hash; `older` for the name of versions before `conflict-` (`<SOP>.<16 hex>.dcm`), which is only a guess
 * (an object whose SOP Instance UID ends in 16 digits has such a key too: check the file). Undefined for a
 * key that is neither.
 */
export function parseAsideKey(
  key: string,
): { study: string; series: string; sop: string; hash16: string; older: boolean } | undefined {
  const m = /^archive\/([0-9.]+)\/([0-9.]+)\/([0-9.]+)\.(conflict-)?([0-9a-f]{16})\.dcm$/.exec(key);
  return m ? { study: m[1], series: m[2], sop: m[3], hash16: m[5], older: !m[4] } : undefined;
}

/** A stored object bound to the archive: its data set opens for reading (what DIMSE and the tunnel send). */
export interface ArchivedObject extends StoredObject {
  openDataset(): Promise<ByteSource>;
}

/** Binds a stored object to the archive it is in. */
export function archived(archive: Archive, object: StoredObject): ArchivedObject {
  return { ...object, openDataset: async () => datasetOf(await archive.open(object.key), object) };
}

/** Runs `fn` on the object at `key` and closes it after. */
export async function withObject<T>(
  archive: Archive,
  key: string,
  fn: (source: ByteSource) => Promise<T>,
): Promise<T> {
  const source = await archive.open(key);
  try {
    return await fn(source);
  } finally {
    await source.close();
  }
}

/**
 * The SHA-256 (hex) of the data set of the object at `path`, from `datasetOffset` for `datasetSize` bytes
 * (`block`: a buffer to read into, as digest.ts's addRange).
 */
export function datasetHash(
  archive: Archive,
  d: { path: string; datasetOffset: number; datasetSize: number },
  block?: Uint8Array,
): Promise<string> {
  return withObject(archive, d.path, (source) => sha256Of(source, d.datasetOffset, d.datasetSize, block));
}
