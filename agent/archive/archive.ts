/**
 * The archive on disk: `<data>/archive/<StudyUID>/<SeriesUID>/<SOPUID>.dcm`, written under a
 * temporary name in `<data>/tmp`, synced, then renamed into place (same file system) and the
 * directory synced, so a crash leaves either no file or a whole one.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { randomUUID } from "node:crypto";

const UID = /^[0-9]+(\.[0-9]+)*$/;

export class Archive {
  readonly archiveDir: string;
  readonly tmpDir: string;
  /** Directories known to exist (a study's series folders are made once). */
  readonly #dirs = new Set<string>();

  /** `sync`: fsync directory entries after a rename (see dimse.sync). */
  constructor(readonly dataDir: string, readonly sync = true) {
    this.archiveDir = path.join(dataDir, "archive");
    this.tmpDir = path.join(dataDir, "tmp");
  }

  /** Creates the folders and removes temporary files a crash may have left. Returns how many. */
  prepare(): number {
    fs.mkdirSync(this.archiveDir, { recursive: true });
    fs.mkdirSync(this.tmpDir, { recursive: true });
    let removed = 0;
    for (const name of fs.readdirSync(this.tmpDir)) {
      if (!name.endsWith(".part")) continue;
      fs.rmSync(path.join(this.tmpDir, name), { force: true });
      removed++;
    }
    return removed;
  }

  /** A fresh temporary path. */
  tempPath(): string {
    return path.join(this.tmpDir, `${randomUUID()}.part`);
  }

  /** The archive path (relative to the data directory) of an object; UIDs are validated first. */
  relativePath(studyUid: string, seriesUid: string, sopUid: string): string {
    for (const uid of [studyUid, seriesUid, sopUid]) {
      if (!UID.test(uid) || uid.length > 64) {
        throw new Error(`not a valid UID: ${JSON.stringify(uid.slice(0, 80))}`);
      }
    }
    return path.join("archive", studyUid, seriesUid, `${sopUid}.dcm`);
  }

  absolute(relative: string): string {
    return path.join(this.dataDir, relative);
  }

  /**
   * Moves a synced temporary file to its final place; with `sync`, also syncs the directory entry
   * and, for folders it had to create, their parents' entries, so the file survives a power loss.
   */
  async place(tempPath: string, relative: string): Promise<void> {
    const target = this.absolute(relative);
    const dir = path.dirname(target);
    const created: string[] = [];
    if (!this.#dirs.has(dir)) {
      const first = fs.mkdirSync(dir, { recursive: true });
      if (first) {
        for (let d = dir; d.length >= first.length; d = path.dirname(d)) created.push(path.dirname(d));
      }
      this.#dirs.add(dir);
      if (this.#dirs.size > 10_000) this.#dirs.clear();
    }
    fs.renameSync(tempPath, target);
    if (this.sync) await Promise.all([dir, ...created].map(syncDir));
  }

  #free = { at: 0, bytes: Number.POSITIVE_INFINITY };

  /** Free bytes for us in the data directory's file system (read at most once a second). */
  freeBytes(): number {
    const now = Date.now();
    if (now - this.#free.at > 1000) {
      try {
        const s = fs.statfsSync(this.dataDir);
        this.#free = { at: now, bytes: s.bavail * s.bsize };
      } catch {
        this.#free = { at: now, bytes: Number.POSITIVE_INFINITY };
      }
    }
    return this.#free.bytes;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.promises.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
