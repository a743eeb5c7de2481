/**
 * Online backup and restore of an agent's data directory (`deno task agent backup|restore`).
 *
 * Backup: `agent.db` is copied with SQLite's `VACUUM INTO` on a read-only connection of its own, beside
 * the running agent: in WAL mode that is one read transaction, a consistent snapshot of the last commit
 * before it began, and the agent's writers go on meanwhile (a reader never blocks a writer; only the
 * checkpoint cannot pass the snapshot until it ends). A plain copy of the file could be torn (pages of
 * two commits, or the commits still in `agent.db-wal` left out). The copy is checked (`PRAGMA
 * integrity_check`) and synced before it gets its name, and counted for the manifest. The site credential
 * is copied with mode 0600. The archive files are not copied unless asked (`--with-archive`: hard links
 * on the same file system, else copies), always after the database: a file the copied index names existed
 * when the snapshot was taken, and every file placed since is one the restored index does not know, which
 * the first start after a restore finds and indexes.
 *
 * Restore: the copy is checked against the manifest's SHA-256; then, with the agent stopped (its data
 * directory lock taken and held to the end), the old `agent.db` is kept under a dated name (its
 * `agent.db-wal` folded in first: a stale log beside another database file would be applied to it), the
 * copy renamed into place, and a `restored` marker written: the next start reconciles the whole archive
 * with the index (recover.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import LibsqlDatabase from "libsql";
import { openedBy, replacedName } from "@conduit/shared/data-dir";
import { lockDataDir, lockHolder } from "../archive/lock.ts";
import { RESTORED } from "../ingest/recover.ts";
import { VERSION } from "../version.ts";
import { migrationTag } from "../index/db.ts";
import { type BackupCounts, type Connection, countsOf } from "./counts.ts";

/** What the manifest of a backup says; `manifest.json` in the backup directory. */
export interface BackupManifest {
  kind: "conduit-agent-backup";
  format: 1;
  version: string;
  createdAt: string;
  dataDir: string;
  schema: { migration: string | null; appliedAt: number | null };
  database: { file: "agent.db"; bytes: number; sha256: string };
  counts: BackupCounts;
  credential: boolean;
  archive: { included: false } | { included: true; files: number; bytes: number; linked: number };
}

/** A mistake or a refusal the operator can act on; nothing was changed. */
export class BackupError extends Error {
  override name = "BackupError";
}

const DB = "agent.db";
const CREDENTIAL = "hub-credential.json";
const MANIFEST = "manifest.json";

function open(file: string, readonly: boolean): Connection {
  return new LibsqlDatabase(file, { readonly, fileMustExist: true }) as unknown as Connection;
}

/** The data directory's database, or a BackupError saying why it cannot be read. */
function sourceDb(dataDir: string): string {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dataDir);
    fs.accessSync(dataDir, fs.constants.R_OK | fs.constants.X_OK);
  } catch (err) {
    throw new BackupError(`cannot read the data directory ${dataDir}: ${(err as Error).message}`);
  }
  if (!stat.isDirectory()) throw new BackupError(`the data directory ${dataDir} is not a directory`);
  const file = path.join(dataDir, DB);
  try {
    fs.accessSync(file, fs.constants.R_OK);
  } catch {
    throw new BackupError(`there is no readable ${DB} in ${dataDir} (give the agent's --data or --config)`);
  }
  return file;
}

/** Refuses an --out that exists and is not an empty directory; returns whether it must be created. */
function checkOut(out: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(out);
  } catch {
    return true;
  }
  if (!stat.isDirectory()) throw new BackupError(`--out ${out} exists and is not a directory`);
  if (fs.readdirSync(out).length) throw new BackupError(`--out ${out} is not empty: give a new directory`);
  return false;
}

function syncPath(p: string): void {
  const fd = fs.openSync(p, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Uint8Array);
  return hash.digest("hex");
}

/** The tag of the migration recorded last in a database (drizzle-kit's journal names it). */
function schemaOf(db: Connection): BackupManifest["schema"] {
  const row = db.prepare(`SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1`)
    .get();
  const appliedAt = row ? Number(row.created_at) : null;
  return { migration: migrationTag(appliedAt), appliedAt };
}

/** Copies a file into `to` (which must not exist) with `mode`, synced; a database's size is not read into memory. */
function copySynced(from: string, to: string, mode: number): void {
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
function linkArchive(
  from: string,
  to: string,
  dryRun = false,
): { files: number; bytes: number; linked: number } {
  let files = 0;
  let bytes = 0;
  let linked = 0;
  // incoming/<uuid>.<sender>.dcm: objects answered Success whose group commit is milliseconds away (the
  // next start commits them); its .part files are not objects.
  function* all(): Generator<string> {
    for (const dir of ["archive", "deid", "incoming"]) {
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

/** Makes a backup of `dataDir` into the new directory `out`; returns its manifest. */
export async function backupAgent(
  dataDir: string,
  out: string,
  options: { withArchive?: boolean } = {},
): Promise<BackupManifest> {
  dataDir = path.resolve(dataDir);
  out = path.resolve(out);
  const source = sourceDb(dataDir);
  const create = checkOut(out);
  if (out === dataDir) throw new BackupError("--out must not be the data directory");
  if (options.withArchive && out.startsWith(dataDir + path.sep)) {
    throw new BackupError("--out must be outside the data directory with --with-archive");
  }
  try {
    fs.mkdirSync(out, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new BackupError(`cannot create --out ${out}: ${(err as Error).message}`);
  }
  try {
    const part = path.join(out, `${DB}.part`);
    const createdAt = new Date().toISOString();
    const live = open(source, true);
    try {
      live.exec("PRAGMA busy_timeout = 10000");
      live.prepare("VACUUM INTO ?").run(part);
    } finally {
      live.close();
    }
    const copy = open(part, false);
    let schema: BackupManifest["schema"];
    let counts: BackupManifest["counts"];
    try {
      const check = copy.prepare("PRAGMA integrity_check").all().map((r) => String(Object.values(r)[0]));
      if (check.join() !== "ok") throw new Error(`the copy fails its integrity check: ${check.join("; ")}`);
      schema = schemaOf(copy);
      counts = countsOf(copy);
    } finally {
      copy.close();
    }
    syncPath(part);
    const file = path.join(out, DB);
    fs.renameSync(part, file);
    const credential = fs.existsSync(path.join(dataDir, CREDENTIAL));
    if (credential) copySynced(path.join(dataDir, CREDENTIAL), path.join(out, CREDENTIAL), 0o600);
    // The archive after the database: whatever the copied index names was placed before the snapshot.
    const archive: BackupManifest["archive"] = options.withArchive
      ? { included: true, ...linkArchive(dataDir, out) }
      : { included: false };
    const manifest: BackupManifest = {
      kind: "conduit-agent-backup",
      format: 1,
      version: VERSION,
      createdAt,
      dataDir,
      schema,
      database: { file: DB, bytes: fs.statSync(file).size, sha256: await sha256File(file) },
      counts,
      credential,
      archive,
    };
    const manifestFile = path.join(out, MANIFEST);
    fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + "\n", { mode: 0o600 });
    syncPath(manifestFile);
    syncPath(out);
    return manifest;
  } catch (err) {
    // Nothing half made is left: the directory goes if we made it, else what we put in it.
    if (create) fs.rmSync(out, { recursive: true, force: true });
    else {for (const name of fs.readdirSync(out)) {
        fs.rmSync(path.join(out, name), { recursive: true, force: true });
      }}
    throw err instanceof BackupError ? err : new BackupError(`backup failed: ${(err as Error).message}`);
  }
}

/** Reads and checks a backup directory's manifest and database. */
export async function readBackup(from: string): Promise<BackupManifest> {
  const manifestFile = path.join(from, MANIFEST);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, "utf8"));
  } catch (err) {
    throw new BackupError(
      `${from} is not an agent backup (cannot read ${MANIFEST}: ${(err as Error).message})`,
    );
  }
  if (
    manifest?.kind !== "conduit-agent-backup" || manifest.format !== 1 ||
    typeof manifest.database?.sha256 !== "string"
  ) {
    throw new BackupError(`${from} is not an agent backup (its ${MANIFEST} is not one)`);
  }
  const file = path.join(from, DB);
  let sha256: string;
  try {
    sha256 = await sha256File(file);
  } catch (err) {
    throw new BackupError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (sha256 !== manifest.database.sha256) {
    throw new BackupError(`${file} is damaged: its SHA-256 is not the one the manifest recorded`);
  }
  return manifest;
}

export interface RestoreResult {
  manifest: BackupManifest;
  dataDir: string;
  /** Where the data directory's own `agent.db` was kept (`agent.db.replaced-<UTC time>`), or null: none. */
  kept: string | null;
  credential: "restored" | "kept" | "none";
  archive: { files: number; bytes: number; linked: number } | null;
}

function inUse(file: string): BackupError {
  const holders = openedBy([file, `${file}-wal`, `${file}-shm`], fs);
  const who = holders.length ? ` by process ${holders.join(", ")}` : " by another process";
  return new BackupError(
    `${file} is in use${who} (an agent backup, a sqlite3 shell, an agent that did not take the data ` +
      "directory's lock): end it before a restore; nothing was changed",
  );
}

/**
 * Leaves the database whole in its own file: SQLite folds `agent.db-wal` in (a crash leaves commits there)
 * and removes it when it leaves WAL mode, which it does only when no other connection has the file open.
 * A file SQLite cannot open is kept as it is, with its log and index.
 */
function fold(file: string): void {
  let db: Connection | undefined;
  try {
    db = open(file, false);
    db.exec("PRAGMA busy_timeout = 2000");
    // exec, not a statement: libsql's close() leaves the file open while a statement object lives.
    db.exec("PRAGMA journal_mode = DELETE");
  } catch (err) {
    const code = String((err as { code?: unknown }).code ?? "");
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) throw inUse(file);
    /* unreadable: kept as it is */
  } finally {
    db?.close();
  }
}

/**
 * Puts a backup in place in `dataDir` (created if missing), with the agent stopped there: the data
 * directory's lock is held from before the first change to after the last, so an agent started meanwhile
 * stops at start. The data directory's `agent.db` is kept as `agent.db.replaced-<UTC time>` (its log
 * folded in first; a hard link, so `agent.db` is the old file or the new one at every moment). The data
 * directory's credential is kept when it has one (a rotation since the backup made the copy's stale).
 * `options.locked` (tests) runs once the lock is taken, before anything is changed.
 */
export async function restoreAgent(
  from: string,
  dataDir: string,
  options: { locked?: () => Promise<void> } = {},
): Promise<RestoreResult> {
  from = path.resolve(from);
  dataDir = path.resolve(dataDir);
  const manifest = await readBackup(from);
  try {
    fs.mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw new BackupError(`cannot create the data directory ${dataDir}: ${(err as Error).message}`);
  }
  let unlock: () => void;
  try {
    unlock = lockDataDir(dataDir);
  } catch (err) {
    throw new BackupError(`${(err as Error).message}: stop the agent before a restore`);
  }
  const file = path.join(dataDir, DB);
  const part = `${file}.restore`;
  const logs = ["-wal", "-shm", "-journal"];
  let kept: string | null = null;
  let swapped = false;
  try {
    await options.locked?.();
    for (const suffix of ["", ...logs]) fs.rmSync(`${part}${suffix}`, { force: true }); // a crash's leftover
    copySynced(path.join(from, DB), part, 0o644);
    // The copy itself checked: the backup read at first may have changed since, or read otherwise now.
    if (await sha256File(part) !== manifest.database.sha256) {
      throw new BackupError(
        `${path.join(from, DB)} changed while it was restored (its copy's SHA-256 is not the manifest's); ` +
          "nothing was changed",
      );
    }
    if (fs.existsSync(file)) {
      fold(file);
      const name = replacedName(file, fs.existsSync);
      try {
        fs.linkSync(file, name);
      } catch {
        copySynced(file, name, 0o644);
      }
      kept = name;
      // The old log and index go with the old file: SQLite would apply that log to the new one. After
      // fold() there are none, but beside a file SQLite could not open.
      for (const suffix of logs) {
        if (fs.existsSync(`${file}${suffix}`)) fs.renameSync(`${file}${suffix}`, `${kept}${suffix}`);
      }
    } else {
      for (const suffix of logs) fs.rmSync(`${file}${suffix}`, { force: true }); // no database to go with
    }
    fs.renameSync(part, file);
    swapped = true;
    let credential: RestoreResult["credential"] = "none";
    const credentialFile = path.join(dataDir, CREDENTIAL);
    if (fs.existsSync(credentialFile)) credential = "kept";
    else if (manifest.credential) {
      fs.rmSync(`${credentialFile}.tmp`, { force: true }); // a crash's leftover (credential.ts writes it too)
      copySynced(path.join(from, CREDENTIAL), `${credentialFile}.tmp`, 0o600);
      fs.renameSync(`${credentialFile}.tmp`, credentialFile);
      credential = "restored";
    }
    const archive = manifest.archive.included ? linkArchive(from, dataDir) : null;
    // The next start reconciles the whole archive with the restored index (not only what a crash touched).
    fs.writeFileSync(
      path.join(dataDir, RESTORED),
      JSON.stringify({ from, createdAt: manifest.createdAt }) + "\n",
    );
    fs.rmSync(path.join(dataDir, "clean-stop"), { force: true });
    syncPath(dataDir);
    return { manifest, dataDir, kept, credential, archive };
  } catch (err) {
    fs.rmSync(part, { force: true });
    if (kept && !swapped) {
      // The old database stays agent.db, with its log and index if they were moved.
      for (const suffix of logs) {
        if (fs.existsSync(`${kept}${suffix}`)) fs.renameSync(`${kept}${suffix}`, `${file}${suffix}`);
      }
      fs.rmSync(kept, { force: true });
    }
    throw err instanceof BackupError ? err : new BackupError(`restore failed: ${(err as Error).message}`);
  } finally {
    unlock();
  }
}

/**
 * What restoreAgent() would do, refused as it would be (a damaged backup, an agent holding the data
 * directory, a database another process has open), with nothing changed: no lock taken, no file written.
 * `kept` is the name the replaced `agent.db` would get; `archive` counts the files it would put back.
 */
export async function planRestore(from: string, dataDir: string): Promise<RestoreResult> {
  from = path.resolve(from);
  dataDir = path.resolve(dataDir);
  const manifest = await readBackup(from);
  const pid = lockHolder(dataDir);
  if (pid !== null) {
    throw new BackupError(
      `data directory ${dataDir} is in use by agent process ${pid}: stop the agent before a restore`,
    );
  }
  const file = path.join(dataDir, DB);
  const exists = fs.existsSync(file);
  if (exists && openedBy([file, `${file}-wal`, `${file}-shm`], fs).length) throw inUse(file);
  const credentialFile = path.join(dataDir, CREDENTIAL);
  return {
    manifest,
    dataDir,
    kept: exists ? replacedName(file, fs.existsSync) : null,
    credential: fs.existsSync(credentialFile) ? "kept" : manifest.credential ? "restored" : "none",
    archive: manifest.archive.included ? linkArchive(from, dataDir, true) : null,
  };
}
