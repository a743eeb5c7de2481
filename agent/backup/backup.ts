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
 * This file makes a backup; restore.ts puts one back. Beside them: manifest.ts (what a backup holds and its
 * manifest says), counts.ts (what the manifest counts), files.ts (connections, synced copies, the archive
 * linked or copied).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { BUILD_TEXT, VERSION } from "../version.ts";
import { migrationTag } from "../index/db.ts";
import { type Connection, countsOf } from "./counts.ts";
import { copySynced, linkArchive, open, sha256File, syncPath } from "./files.ts";
import { signalsSettled } from "@conduit/shared/process";
import { BackupError, type BackupManifest, CREDENTIAL, DB, MANIFEST } from "./manifest.ts";

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

/** The tag of the migration recorded last in a database (drizzle-kit's journal names it). */
function schemaOf(db: Connection): BackupManifest["schema"] {
  const row = db.prepare(`SELECT created_at FROM "__drizzle_migrations" ORDER BY created_at DESC LIMIT 1`)
    .get();
  const appliedAt = row ? Number(row.created_at) : null;
  return { migration: migrationTag(appliedAt), appliedAt };
}

/**
 * Throws once `stop` is aborted. The steps before it are synchronous: turns of the event loop first let a
 * signal listener see a Ctrl-C that came during them.
 */
async function stopped(stop: AbortSignal | undefined): Promise<void> {
  if (!stop) return;
  await signalsSettled();
  if (stop.aborted) throw new BackupError(`stopped by ${stop.reason}: what was written is removed`);
}

/**
 * Makes a backup of `dataDir` into the new directory `out`; returns its manifest. Once `options.stop` is
 * aborted (Ctrl-C), the backup ends at the end of its current step (a database copy, the archive's links)
 * and what it wrote is removed, as after a failure: a BackupError whose message names the abort's reason.
 */
export async function backupAgent(
  dataDir: string,
  out: string,
  options: { withArchive?: boolean; stop?: AbortSignal } = {},
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
    const sha256 = await sha256File(file);
    await stopped(options.stop);
    const credential = fs.existsSync(path.join(dataDir, CREDENTIAL));
    if (credential) copySynced(path.join(dataDir, CREDENTIAL), path.join(out, CREDENTIAL), 0o600);
    // The archive after the database: whatever the copied index names was placed before the snapshot.
    const archive: BackupManifest["archive"] = options.withArchive
      ? { included: true, ...linkArchive(dataDir, out) }
      : { included: false };
    await stopped(options.stop);
    const manifest: BackupManifest = {
      kind: "conduit-agent-backup",
      format: 1,
      version: VERSION,
      build: BUILD_TEXT,
      createdAt,
      dataDir,
      schema,
      database: { file: DB, bytes: fs.statSync(file).size, sha256 },
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
