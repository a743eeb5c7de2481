/**
 * What to say when the agent's or the hub's data directory cannot be used at start (created when missing,
 * then checked to be a directory this user can write): the directory, why, and the setting to change. It
 * said only the system's "EEXIST: file already exists, mkdir '/srv/x'" (or ENOTDIR, ENOENT).
 */

/** The error for `dataDir`, from the failure `err` of making it ready; `variable` names its setting. */
export function dataDirError(dataDir: string, err: unknown, variable: string): Error {
  const e = err as { code?: string; message?: string };
  const why = e.code === "EEXIST"
    ? "it is a file, not a directory"
    : e.code === "ENOTDIR"
    ? "a part of its path is a file, not a directory"
    : e.code === "EROFS"
    ? "its file system is mounted read-only (EROFS)"
    : e.code === "EACCES" || e.code === "EPERM"
    ? `this user may not write there (${e.code})`
    : e.code === "ENOENT"
    ? "it cannot be created there (ENOENT)"
    : String(e.message ?? err);
  return new Error(
    `cannot use the data directory ${dataDir}: ${why}; set data (--data, ${variable}) to a ` +
      "directory this user can create or write",
  );
}

/** A stand-in failure for a path that exists and is not a directory (mkdir's own, recursive, says nothing). */
export const NOT_A_DIRECTORY = { code: "EEXIST", message: "not a directory" };

/**
 * `<file>.replaced-20261205T054200Z` beside `file` (the UTC time now), one that is not taken, nor its
 * `-wal`, `-shm`: the name a restore keeps the database it replaces under (`agent restore`,
 * `hub admin restore`).
 */
export function replacedName(file: string, exists: (p: string) => boolean): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  for (let n = 1;; n++) {
    const name = `${file}.replaced-${stamp}${n > 1 ? `-${n}` : ""}`;
    if (![name, `${name}-wal`, `${name}-shm`].some(exists)) return name;
  }
}

/** The calls of node:fs that openedBy() makes. */
export interface ProcFiles {
  realpathSync(p: string): string;
  readdirSync(p: string): string[];
  readlinkSync(p: string): string;
  readFileSync(p: string, encoding: "utf8"): string;
}

/**
 * The processes (other than this one) that hold one of `files` open, as `N (name)`; Linux only (from
 * /proc: none elsewhere). What the restores name when a database is in use. `fs` is node:fs (shared does
 * no I/O of its own).
 */
export function openedBy(files: string[], fs: ProcFiles): string[] {
  if (Deno.build.os !== "linux") return [];
  const wanted = new Set<string>();
  for (const f of files) {
    try {
      wanted.add(fs.realpathSync(f));
    } catch { /* absent */ }
  }
  const found: string[] = [];
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p) && Number(p) !== Deno.pid);
  } catch {
    return [];
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // ended meanwhile, or another user's
    }
    const holds = fds.some((fd) => {
      try {
        return wanted.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
    if (!holds) continue;
    let name = "";
    try {
      name = fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    } catch { /* ended */ }
    found.push(name ? `${pid} (${name})` : pid);
  }
  return found;
}

/** The calls of node:fs that unusableEntries() makes. */
export interface EntryAccess {
  readdirSync(p: string): string[];
  statSync(p: string): { isDirectory(): boolean };
  accessSync(p: string, mode: number): void;
  constants: { R_OK: number; W_OK: number; X_OK: number };
}

/**
 * The entries directly in `dataDir` this user cannot read and write (a directory: also enter), as `name
 * (CODE)`: a data directory whose files a run as another user made (root, say) passed the check of the
 * directory itself, and the start then failed on the first of them with the system's words (EACCES on
 * tmp/, the database that could not be opened). Only the top level: a start does not walk the archive.
 */
export function unusableEntries(dataDir: string, fs: EntryAccess): string[] {
  const bad: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dataDir);
  } catch {
    return bad; // the directory's own check says why
  }
  for (const name of names.sort()) {
    // Kept for the operator, never opened (a restore's replaced database, its log): whoever owns them.
    if (name.includes(".replaced-")) continue;
    const p = `${dataDir}/${name}`;
    try {
      const dir = fs.statSync(p).isDirectory();
      // hub.db.lock is only read (flock), and an admin command run as another user may have made it.
      const write = name === "hub.db.lock" ? 0 : fs.constants.W_OK;
      fs.accessSync(p, fs.constants.R_OK | write | (dir ? fs.constants.X_OK : 0));
    } catch (err) {
      bad.push(`${name} (${(err as { code?: string }).code ?? "unusable"})`);
    }
  }
  return bad;
}

/**
 * The error for a data directory whose `entries` (unusableEntries) this user cannot use; `userName` is
 * os.userInfo().username, asked only here (it throws for a user with no passwd entry, as in some containers).
 */
export function entriesError(dataDir: string, entries: string[], userName: () => string): Error {
  let user: string;
  try {
    user = userName();
  } catch {
    user = "this user";
  }
  const shown = entries.length > 5 ? [...entries.slice(0, 5), `and ${entries.length - 5} more`] : entries;
  return new Error(
    `cannot use the data directory ${dataDir}: ${shown.join(", ")} in it ${
      entries.length === 1 ? "is" : "are"
    } not for this user (${user}) to read and write, made by a run as another user (root?): ` +
      `chown -R ${user} ${dataDir}, or run as their owner`,
  );
}
