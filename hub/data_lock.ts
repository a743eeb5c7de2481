/**
 * One hub per data directory: `<data>/hub.lock` is held exclusive (flock) from before the hub opens its
 * database until it stops, or its process ends (which releases it, however it ends: no stale lock). A
 * second hub on the same directory stops at start: it would mark every site offline in the libsql file the
 * first one serves (until 2026-12-07 the running hub's sites all read offline, and stayed so until their
 * agents reconnected), and sweep the first one's STOW spool. Admin commands do not take it (they share
 * `hub.db.lock` with the hub: db.ts).
 */
import * as path from "node:path";

const FILE = "hub.lock";

/** Another hub holds the data directory. */
export class HubDirInUseError extends Error {
  override name = "HubDirInUseError";
}

export class HubDirLock {
  #file: Deno.FsFile | undefined;

  constructor(private readonly dataDir: string) {}

  /** Takes the lock (the directory exists); throws HubDirInUseError naming the holder's process. */
  take(): void {
    if (this.#file) return;
    const file = path.join(this.dataDir, FILE);
    const f = Deno.openSync(file, { read: true, write: true, create: true, mode: 0o644 });
    let held = false;
    try {
      held = f.tryLockSync(true);
    } finally {
      if (!held) f.close();
    }
    if (!held) {
      let holder = "";
      try {
        holder = Deno.readTextFileSync(file).trim();
      } catch { /* unreadable: not named */ }
      throw new HubDirInUseError(
        `data directory ${path.resolve(this.dataDir)} is in use by another hub` +
          `${/^\d+$/.test(holder) ? ` (process ${holder})` : ""}: one hub per data directory (--data); ` +
          "nothing was changed",
      );
    }
    f.truncateSync(0);
    f.writeSync(new TextEncoder().encode(`${Deno.pid}\n`));
    this.#file = f;
  }

  /** Lets go (the hub stopped, or its start failed); the file stays, empty of meaning until taken again. */
  release(): void {
    const f = this.#file;
    this.#file = undefined;
    try {
      f?.close(); // closing the descriptor releases the flock
    } catch { /* closed */ }
  }
}

/**
 * The process number of the hub running on `dataDir`, or undefined when none holds its lock (tried and let
 * go at once: a hub that starts in that instant stops, as if another held it). For admin commands that must
 * not run beside a hub (`migrate-db`).
 */
export function hubHolding(dataDir: string): string | undefined {
  const file = path.join(dataDir, FILE);
  let f: Deno.FsFile;
  try {
    f = Deno.openSync(file, { read: true });
  } catch {
    return undefined; // no hub ever ran here (or it cannot be read: the command's own open says so)
  }
  try {
    if (f.tryLockSync(true)) return undefined;
    const holder = Deno.readTextFileSync(file).trim();
    return /^\d+$/.test(holder) ? holder : "?";
  } finally {
    f.close();
  }
}
