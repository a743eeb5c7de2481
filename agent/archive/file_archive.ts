/**
 * The archive on a local file system: the object at key K is the file `<data>/K`
 * (`<data>/archive/<StudyUID>/<SeriesUID>/<SOPUID>.dcm`). New objects are staged under `<data>/tmp`, synced,
 * then renamed into place (same file system) and the directory synced, so a crash leaves either no file or
 * a whole one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import type { Archive } from "./archive.ts";
import { type ByteSource, openFile } from "../part10/source.ts";
import { SharedSync } from "./shared_sync.ts";
import { diskSpace } from "./disk_space.ts";

const STAGED = /\.part$/;

export class FileArchive implements Archive {
  readonly #dataDir: string;
  readonly #tmpDir: string;
  /** Folders known to exist, or being made (a study's series folders are made once). */
  readonly #dirs = new Map<string, Promise<void>>();
  /** Folder syncs running or waiting: objects placed in one folder together share them. */
  readonly #dirSyncs = new Map<string, SharedSync>();
  /** What the folder syncs no longer in `#dirSyncs` ran and served. */
  readonly #pastSyncs = { syncs: 0, callers: 0 };

  /** `sync`: fsync staged files and directory entries after a rename (see dimse.sync). */
  constructor(dataDir: string, readonly sync = true) {
    this.#dataDir = path.resolve(dataDir);
    this.#tmpDir = path.join(this.#dataDir, "tmp");
  }

  prepare(): Promise<number> {
    fs.mkdirSync(path.join(this.#dataDir, "archive"), { recursive: true });
    fs.mkdirSync(this.#tmpDir, { recursive: true });
    let removed = 0;
    for (const name of fs.readdirSync(this.#tmpDir)) {
      if (!STAGED.test(name)) continue;
      fs.rmSync(path.join(this.#tmpDir, name), { force: true });
      removed++;
    }
    return Promise.resolve(removed);
  }

  staging(): string {
    return path.join(this.#tmpDir, `${randomUUID()}.part`);
  }

  /** The file of a key; a key that would leave the data directory is refused. */
  #file(key: string): string {
    const file = path.resolve(this.#dataDir, key);
    if (!file.startsWith(this.#dataDir + path.sep) || path.isAbsolute(key)) {
      throw new Error(`not an archive key: ${JSON.stringify(key.slice(0, 80))}`);
    }
    return file;
  }

  /**
   * Moves a synced staged file to its final place; with `sync`, also syncs the directory entry and, for
   * folders it had to create, their parents' entries, so the file survives a power loss. Called again for
   * the same file after it failed (the group commit retries), it finishes what the first call left: a
   * call whose rename was done but whose folder sync failed (EMFILE) made every retry fail on the rename
   * (ENOENT), and the group commit stayed blocked after the descriptors were free.
   */
  async place(staged: string, key: string): Promise<void> {
    const target = this.#file(key);
    const dir = path.dirname(target);
    if (!this.sync) return this.#placeNow(staged, target, dir);
    // Every step off the event loop's thread: a mkdir or a rename can wait for the journal.
    await this.#folder(dir);
    await fs.promises.rename(staged, target).catch(async (err) => {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      if (!fs.existsSync(staged)) {
        if (this.#placedBefore.has(target)) return; // renamed by a call that failed after: synced below
        throw err;
      }
      this.#dirs.delete(dir); // the folder went away since it was made: make it again
      await this.#folder(dir);
      await fs.promises.rename(staged, target);
    });
    this.#placedBefore.add(target);
    await this.#syncDir(dir);
    this.#placedBefore.delete(target);
  }

  /** Files renamed into place whose folder sync has not succeeded yet (see `place`). */
  readonly #placedBefore = new Set<string>();

  /** A rename within the data directory, by `place`; with `sync`, the entry's old folder is synced too. */
  async move(from: string, to: string): Promise<void> {
    const source = this.#file(from);
    await this.place(source, to);
    const dir = path.dirname(source);
    if (this.sync && dir !== path.dirname(this.#file(to))) await this.#syncDir(dir);
  }

  /**
   * Without `sync`, on this thread: with no syncs of ours for a mkdir or a rename to wait behind, a
   * trip through Deno's blocking threads and back costs more than the call (issue 16: with the intake's
   * rename done the same way, 467 → 531 files/s at the median of ten alternated runs, bench/README.md).
   */
  #placeNow(staged: string, target: string, dir: string): void {
    if (!this.#dirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      this.#remember(dir, Promise.resolve());
    }
    try {
      fs.renameSync(staged, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || !fs.existsSync(staged)) throw err;
      fs.mkdirSync(dir, { recursive: true }); // the folder went away since it was made: make it again
      fs.renameSync(staged, target);
    }
  }

  /** Folder syncs run so far, and the placements (and folders made) they served (tests, metrics). */
  get folderSyncs(): { syncs: number; callers: number } {
    let { syncs, callers } = this.#pastSyncs;
    for (const shared of this.#dirSyncs.values()) {
      syncs += shared.stats.syncs;
      callers += shared.stats.callers;
    }
    return { syncs, callers };
  }

  /**
   * Syncs a folder's entries, sharing the sync with every object placed in it meanwhile (a group
   * commit places a series' objects together: two syncs of their folder instead of one each).
   */
  #syncDir(dir: string): Promise<void> {
    let shared = this.#dirSyncs.get(dir);
    if (!shared) {
      shared = new SharedSync(dir, false);
      this.#dirSyncs.set(dir, shared);
    }
    const done = shared.sync();
    const forget = () => {
      if (!shared.idle || this.#dirSyncs.get(dir) !== shared) return;
      this.#dirSyncs.delete(dir);
      this.#pastSyncs.syncs += shared.stats.syncs;
      this.#pastSyncs.callers += shared.stats.callers;
    };
    done.then(forget, forget);
    return done;
  }

  /**
   * Resolves once `dir` exists and, with `sync`, the entries of the folders made for it are synced in
   * their parents: every object placed in a new folder waits for that, not only the first.
   */
  #folder(dir: string): Promise<void> {
    let ready = this.#dirs.get(dir);
    if (ready) return ready;
    ready = (async () => {
      const first = await fs.promises.mkdir(dir, { recursive: true });
      if (!first || !this.sync) return;
      const parents: string[] = [];
      for (let d = dir; d.length >= first.length; d = path.dirname(d)) parents.push(path.dirname(d));
      await Promise.all(parents.map((p) => this.#syncDir(p)));
    })();
    ready.catch(() => this.#dirs.delete(dir));
    this.#remember(dir, ready);
    return ready;
  }

  #remember(dir: string, ready: Promise<void>): void {
    if (this.#dirs.size >= 10_000) this.#dirs.clear();
    this.#dirs.set(dir, ready);
  }

  async discardStaged(staged: string): Promise<void> {
    await fs.promises.rm(staged, { force: true });
  }

  fileOf(key: string): string {
    return this.#file(key);
  }

  async open(key: string): Promise<ByteSource> {
    return await openFile(this.#file(key));
  }

  async stat(key: string): Promise<{ size: number; modifiedAt: number } | undefined> {
    try {
      const s = await fs.promises.stat(this.#file(key));
      return s.isFile() ? { size: s.size, modifiedAt: s.mtimeMs } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  }

  async remove(key: string): Promise<void> {
    await fs.promises.rm(this.#file(key), { force: true });
  }

  async takeOut(from: string, to: string): Promise<boolean> {
    const source = this.#file(from);
    const target = this.#file(to);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.promises.rename(source, target);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT" && !fs.existsSync(source)) return false;
      throw err;
    }
  }

  async prune(key: string): Promise<void> {
    const top = path.join(this.#dataDir, key.split("/")[0]);
    for (let dir = path.dirname(this.#file(key)); dir.startsWith(top + path.sep); dir = path.dirname(dir)) {
      try {
        await fs.promises.rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOTEMPTY" || code === "EEXIST") return;
        if (code !== "ENOENT") throw err;
      }
      // Placements into it make it again (`place`: the folder went away since it was made).
      this.#dirs.delete(dir);
    }
  }

  #free = { at: 0, bytes: Number.POSITIVE_INFINITY };

  freeBytes(): number {
    const now = Date.now();
    if (now - this.#free.at > 1000) {
      try {
        this.#free = { at: now, bytes: diskSpace(this.#dataDir).available };
      } catch {
        this.#free = { at: now, bytes: Number.POSITIVE_INFINITY };
      }
    }
    return this.#free.bytes;
  }

  /**
   * Walks the folders under `prefix`. With `changedSince`, the files of a folder are listed only when the
   * folder changed since then (a file added or removed changes its folder), and a folder that did not is
   * looked into only when it may hold folders (its link count says so where the file system keeps one): a
   * crash's strays are found with a few directory reads, not a walk of the whole archive.
   */
  async *list(prefix: string, options: { changedSince?: number } = {}): AsyncGenerator<string> {
    const root = this.#file(prefix.replace(/\/+$/, ""));
    yield* walk(root, path.relative(this.#dataDir, root), options.changedSince);
  }
}

/** Folders read between two turns of the event loop by {@link walk}. */
const WALK_TURN = 1000;

/**
 * The walk of {@link FileArchive.list}, in key order, with Deno's synchronous calls and no generator per
 * folder: it runs at start (a crash's strays, a de-identification stage's copies, a restore), where the walk
 * of a busy site's archive (300 000 study and 600 000 series folders, a stat each) took 34-56 s with a
 * promise per call and a generator per folder, and takes 8 s this way. The event loop turns every
 * {@link WALK_TURN} folders.
 */
async function* walk(root: string, rootKey: string, since: number | undefined): AsyncGenerator<string> {
  // Folders still to read, the next one last.
  const pending: { dir: string; key: string }[] = [{ dir: root, key: rootKey }];
  let folders = 0;
  while (pending.length) {
    const { dir, key } = pending.pop()!;
    if (++folders % WALK_TURN === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(dir);
    } catch {
      continue;
    }
    if (!info.isDirectory) continue;
    const changed = since === undefined || (info.mtime?.getTime() ?? Infinity) >= since;
    // A folder's link count is 2 plus its subfolders on most file systems (1 or 0 where it is not kept).
    if (!changed && info.nlink === 2) continue;
    let entries: Deno.DirEntry[];
    try {
      entries = Array.from(Deno.readDirSync(dir));
    } catch {
      continue;
    }
    const subfolders: { dir: string; key: string }[] = [];
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.isDirectory) subfolders.push({ dir: path.join(dir, e.name), key: `${key}/${e.name}` });
      else if (changed && e.isFile) yield `${key}/${e.name}`;
    }
    // One at a time: the archive's root holds a folder per study (a spread of 300 000 overflows the stack).
    for (let i = subfolders.length - 1; i >= 0; i--) pending.push(subfolders[i]);
  }
}
