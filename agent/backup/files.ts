/**
 * The files a backup and a restore write: a `libsql` connection of their own, synced copies and their
 * SHA-256, and the archive hard-linked or copied (`--with-archive`).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import LibsqlDatabase from "libsql";
import type { Connection } from "./counts.ts";

export function open(file: string, readonly: boolean): Connection {
  return new LibsqlDatabase(file, { readonly, fileMustExist: true }) as unknown as Connection;
}

export function syncPath(p: string): void {
  const fd = fs.openSync(p, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Uint8Array);
  return hash.digest("hex");
}

/** Copies a file into `to` (which must not exist) with `mode`, synced; a database's size is not read into memory. */
export function copySynced(from: string, to: string, mode: number): void {
  fs.copyFileSync(from, to, fs.constants.COPYFILE_EXCL);
  fs.chmodSync(to, mode);
  syncPath(to);
}

/** Every file under `dir`, as paths relative to it (none when it does not exist), one folder at a time. */
function* filesUnder(dir: string, rel = ""): Generator<string> {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(path.join(dir, rel), { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  for (const e of entries) {
    const p = path.join(rel, e.name);
    if (e.isDirectory()) yield* filesUnder(dir, p);
    else if (e.isFile()) yield p;
  }
}

/**
 * Hard-links (same file system), else copies, every file of `from/archive`, `from/deid` (de-identified
 * copies waiting to be sent) and the objects of `from/incoming` missing under `to`. An archived file is
 * never written in place (placing one is a rename), so a link keeps the bytes it had.
 */
export function linkArchive(
  from: string,
  to: string,
  dryRun = false,
): { files: number; bytes: number; linked: number } {
  let files = 0;
  let bytes = 0;
  let linked = 0;
  // incoming/<uuid>.<sender>.dcm: objects answered Success whose group commit is milliseconds away (the
  // next start commits them); its .part files are not objects.
  // incoming/ first: an object the group commit moves to archive/ while this walks is then caught in one or
  // the other (walked after archive/, one moved meanwhile was in neither; until 2026-12-08).
  function* all(): Generator<string> {
    for (const dir of ["incoming", "archive", "deid"]) {
      for (const f of filesUnder(path.join(from, dir))) {
        if (dir !== "incoming" || f.endsWith(".dcm")) yield path.join(dir, f);
      }
    }
  }
  for (const rel of all()) {
    const src = path.join(from, rel);
    const dst = path.join(to, rel);
    if (fs.existsSync(dst)) continue;
    if (dryRun) {
      // What a restore would put back: counted, nothing written.
      const size = fs.statSync(src, { throwIfNoEntry: false })?.size;
      if (size !== undefined) {
        files++;
        bytes += size;
      }
      continue;
    }
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    try {
      fs.linkSync(src, dst);
      linked++;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") continue; // removed meanwhile (retention, a replaced duplicate)
      if (code !== "EXDEV" && code !== "EPERM" && code !== "EMLINK") throw err;
      try {
        fs.copyFileSync(src, dst, fs.constants.COPYFILE_EXCL);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw e;
      }
    }
    files++;
    bytes += fs.statSync(dst).size;
  }
  return { files, bytes, linked };
}
