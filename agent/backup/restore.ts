/**
 * Restore of an agent's backup (`deno task agent restore`; backup.ts makes one).
 *
 * Restore: the copy is checked against the manifest's SHA-256; then, with the agent stopped (its data
 * directory lock taken and held to the end), the old `agent.db` is kept under a dated name (its
 * `agent.db-wal` folded in first: a stale log beside another database file would be applied to it), the
 * copy renamed into place, and a `restored` marker written: the next start reconciles the whole archive
 * with the index (recover.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { openedBy, replacedName } from "@conduit/shared/data-dir";
import { lockDataDir, lockHolder } from "../archive/lock.ts";
import { RESTORED } from "../ingest/recover.ts";
import { loadCredential } from "../tunnel/credential.ts";
import type { Connection } from "./counts.ts";
import { copySynced, linkArchive, open, sha256File, syncPath } from "./files.ts";
import { BackupError, type BackupManifest, CREDENTIAL, DB, readBackup } from "./manifest.ts";

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

/** A credential's site, or undefined (none, or unreadable: the restore's own steps say so). */
function siteOf(dir: string): string | undefined {
  try {
    return loadCredential(dir)?.site;
  } catch {
    return undefined;
  }
}

/**
 * Refuses a backup of one site restored into the data directory of another: the index, the archive and the
 * queue of the first would appear at the second (its patients in its C-FIND, its rows sent again from
 * there), under the second's credential. Until 2026-12-07 nothing compared them.
 */
function refuseOtherSite(from: string, dataDir: string): void {
  const backupSite = siteOf(from);
  const targetSite = siteOf(dataDir);
  if (backupSite && targetSite && backupSite !== targetSite) {
    throw new BackupError(
      `${from} is a backup of site ${backupSite}, and ${dataDir} is enrolled as site ${targetSite}: a ` +
        `restore would put ${backupSite}'s objects, index and queue at ${targetSite}; nothing was changed. ` +
        `To make this data directory site ${backupSite}, move its ${CREDENTIAL} aside first.`,
    );
  }
}

/**
 * Puts a backup in place in `dataDir` (created if missing), with the agent stopped there: the data
 * directory's lock is held from before the first change to after the last, so an agent started meanwhile
 * stops at start. The data directory's `agent.db` is kept as `agent.db.replaced-<UTC time>` (its log
 * folded in first; a hard link, so `agent.db` is the old file or the new one at every moment). The data
 * directory's credential is kept when it has one (a rotation since the backup made the copy's stale).
 * `options.locked` (tests) runs once the lock is taken, before anything is changed. Once `options.stop` is
 * aborted (Ctrl-C) before the copy of the backup's database is checked, the restore ends there with nothing
 * changed (a BackupError naming the abort's reason); after that it finishes: it cannot stop half way.
 */
export async function restoreAgent(
  from: string,
  dataDir: string,
  options: { locked?: () => Promise<void>; stop?: AbortSignal } = {},
): Promise<RestoreResult> {
  from = path.resolve(from);
  dataDir = path.resolve(dataDir);
  const manifest = await readBackup(from);
  refuseOtherSite(from, dataDir);
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
    copySynced(path.join(from, DB), part, 0o640); // patient data: never open to other users (operations.md, Modes)
    // The copy itself checked: the backup read at first may have changed since, or read otherwise now.
    if (await sha256File(part) !== manifest.database.sha256) {
      throw new BackupError(
        `${path.join(from, DB)} changed while it was restored (its copy's SHA-256 is not the manifest's); ` +
          "nothing was changed",
      );
    }
    // The last moment to stop: from here on the data directory changes, and nothing awaits.
    if (options.stop?.aborted) {
      throw new BackupError(`stopped by ${options.stop.reason}: nothing was changed`);
    }
    if (fs.existsSync(file)) {
      fold(file);
      const name = replacedName(file, fs.existsSync);
      try {
        fs.linkSync(file, name);
      } catch {
        copySynced(file, name, 0o640);
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
  refuseOtherSite(from, dataDir);
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
