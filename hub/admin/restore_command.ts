/**
 * `deno task hub admin restore --from FILE [--config FILE | --data DIR | --db file:PATH] [--json]`: puts a
 * copy made by `admin backup` back as the hub's libsql file, the hub stopped.
 *
 * Every hub and admin command on the file holds `hub.db.lock` shared (db.ts, holdDbLock); the restore
 * takes it exclusive first and holds it to its end, so one started meanwhile stops at its start. For those
 * of a version that takes no lock, what marks them at work on the file is SQLite's: a connection in WAL
 * mode holds a shared lock on `hub.db` as long as it is open, idle or not. The restore asks SQLite to leave WAL mode (`PRAGMA journal_mode = DELETE`), which
 * it does only when no other connection has the file open, and which also folds `hub.db-wal` into the
 * file: refused, the file is in use, and nothing is changed. On Linux the processes holding the file open
 * are named from /proc (also for an old file SQLite cannot open, where only that check is left).
 *
 * The backup is copied beside the database first, then checked there (`PRAGMA integrity_check`, a hub's
 * tables, a schema not newer than this version's migrations); its console sessions are ended and the restore
 * is recorded in its audit log (`database.restore`). The replaced database is kept under a dated
 * name (a hard link, so `hub.db` is the old file or the new one at every moment), and the copy is synced,
 * renamed over `hub.db` and the directory synced. On PostgreSQL the command refuses and names the
 * `pg_restore` to run instead.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { createClient } from "@libsql/client";
import { commandLine, commandOf } from "@conduit/shared/cli";
import { signalsSettled, stopSignal } from "@conduit/shared/process";
import { agentCommand } from "./agent_command.ts";
import { openedBy, replacedName } from "@conduit/shared/data-dir";
import { hubDbFile, migrationTag, newestMigration, openDbLock } from "../db/db.ts";
import { COUNTED, syncPath, withoutPassword } from "./backup_command.ts";

const HUB = commandOf("hub");

const USAGE =
  `usage: ${HUB} admin restore --from FILE [--config FILE | --data DIR | --db file:PATH] [--dry-run] [--json]
  --from FILE    a copy made by 'hub admin backup' (or the hub.db of a hub stopped cleanly)
  --dry-run      check the backup and the database it would replace, say what would be done; change nothing
  --json         print what was restored as one JSON object
The hub must be stopped. The database it replaces is kept beside it as hub.db.replaced-<UTC time>,
with its -wal and -shm when it could not be read. A backup of an older version is migrated when the
hub starts; one of a newer version is refused. On PostgreSQL (--db postgres://...) it names the
pg_restore command to run instead.`;

/** The tables every hub database has (since the first migration). */
const HUB_TABLES = ["sites", "users", "api_tokens", "__drizzle_migrations"];

/** A restore refused or failed: the message says why; nothing was changed. */
class RestoreError extends Error {}

function inUse(file: string, holders: string[]): RestoreError {
  const who = holders.length ? ` by process ${holders.join(", ")}` : " by another process";
  return new RestoreError(
    `${file} is in use${who} (a hub running on it, or an admin command): stop the hub before a restore ` +
      "(systemctl stop conduit-hub); nothing was changed",
  );
}

/**
 * Makes sure nothing else has the database open and leaves it whole in its own file (its WAL folded
 * in). A file SQLite cannot open (damaged, not a database) is replaced all the same, its -wal and -shm
 * kept beside it.
 */
async function quiesce(file: string): Promise<void> {
  const holders = openedBy([file, `${file}-wal`, `${file}-shm`], fs);
  if (holders.length) throw inUse(file, holders);
  const client = createClient({ url: `file:${file}` });
  try {
    await client.execute("PRAGMA busy_timeout = 2000");
    await client.execute("PRAGMA journal_mode = DELETE");
  } catch (err) {
    const code = String((err as { code?: unknown }).code ?? "");
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) {
      throw inUse(file, openedBy([file, `${file}-wal`, `${file}-shm`], fs));
    }
    /* unreadable: replaced as it is */
  } finally {
    client.close();
  }
}

/** What the copy holds, or a RestoreError saying why it is not a hub's database this version can run. */
async function check(
  part: string,
  from: string,
): Promise<{ schema: string; tables: Record<string, number>; present: Set<string> }> {
  const client = createClient({ url: `file:${part}` });
  try {
    let verdict: string;
    try {
      // Its own file, whatever it was (a stopped hub's hub.db is in WAL mode): libsql leaves a log whole
      // at close, and the copy goes in place without one. The hub sets WAL again when it opens it.
      await client.execute("PRAGMA journal_mode = DELETE");
      verdict = (await client.execute("PRAGMA integrity_check")).rows.map((r) => String(r[0])).join("; ");
    } catch (err) {
      throw new RestoreError(`${from} is not a whole SQLite database (${(err as Error).message})`);
    }
    if (verdict !== "ok") {
      throw new RestoreError(`${from} is damaged: its integrity check says ${verdict.slice(0, 300)}`);
    }
    const present = new Set(
      (await client.execute("SELECT name FROM sqlite_master WHERE type = 'table'")).rows.map((r) =>
        String(r[0])
      ),
    );
    const missing = HUB_TABLES.filter((t) => !present.has(t));
    if (missing.length) {
      const agent = present.has("instances") && present.has("queue")
        ? ` (it is an agent's agent.db: restore that with ${agentCommand()} restore)`
        : "";
      throw new RestoreError(
        `${from} is not a hub's database: it has no ${missing.join(", ")} table${
          missing.length > 1 ? "s" : ""
        }${agent}`,
      );
    }
    const raw = (await client.execute('SELECT max(created_at) FROM "__drizzle_migrations"')).rows[0][0];
    const applied = raw === null || raw === undefined ? null : Number(raw);
    const newest = newestMigration();
    if (applied !== null && applied > newest.at) {
      throw new RestoreError(
        `${from} was written by a newer version of the hub: its schema is from ${
          new Date(applied).toISOString()
        }, and this version's migrations end at ${newest.tag} (${
          new Date(newest.at).toISOString()
        }): restore it with that version or a later one`,
      );
    }
    const tables: Record<string, number> = {};
    for (const table of COUNTED.filter((t) => present.has(t))) {
      tables[table] = Number((await client.execute(`SELECT count(*) FROM "${table}"`)).rows[0][0]);
    }
    return { schema: migrationTag(applied) ?? "(none)", tables, present };
  } finally {
    client.close();
  }
}

/**
 * Ends the console sessions the copy holds (a session logged out, or ended by a password reset, after the
 * backup would be valid again) and records the restore in its audit log. Returns the sessions ended.
 */
async function prepare(part: string, present: Set<string>, detail: Record<string, unknown>): Promise<number> {
  const client = createClient({ url: `file:${part}` });
  try {
    await client.execute("PRAGMA synchronous = FULL");
    const ended = present.has("sessions") ? (await client.execute("DELETE FROM sessions")).rowsAffected : 0;
    if (present.has("audit")) {
      await client.execute({
        sql:
          "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, 'cli', 'database.restore', NULL, ?)",
        args: [Date.now(), JSON.stringify({ ...detail, sessionsEnded: ended })],
      });
    }
    return ended;
  } finally {
    client.close();
  }
}

/** The console sessions a copy holds (what the restore would end). */
async function countSessions(part: string): Promise<number> {
  const client = createClient({ url: `file:${part}` });
  try {
    return Number((await client.execute("SELECT count(*) FROM sessions")).rows[0][0]);
  } finally {
    client.close();
  }
}

/**
 * `hooks.locked` (tests) runs once the database's lock is held and the backup is checked, before the old
 * database is touched.
 */
export async function restoreCommand(
  args: string[],
  defaults: { data: string; db?: string },
  hooks: { locked?: () => Promise<void> } = {},
): Promise<number> {
  const parsed = commandLine("hub admin restore", USAGE, args, {
    from: { type: "string" },
    data: { type: "string" },
    db: { type: "string" },
    json: { type: "boolean" },
    "dry-run": { type: "boolean" },
  });
  if (typeof parsed === "number") return parsed;
  const v = parsed.values;
  if (!v.from || parsed.positionals.length) {
    const what = parsed.positionals.length
      ? `unexpected argument ${JSON.stringify(parsed.positionals[0])}`
      : "give the backup to restore with --from";
    console.error(`hub admin restore: ${what}; nothing was changed\n${USAGE}`);
    return 2;
  }
  const dbUrl = v.db ?? defaults.db;
  const target = hubDbFile(v.data ?? defaults.data, dbUrl);
  if (target === undefined) {
    console.error(
      "hub admin restore: the hub's database is PostgreSQL: restore it with PostgreSQL's own tool, " +
        "every hub stopped, for example\n" +
        `  pg_restore --clean --if-exists -d '${withoutPassword(dbUrl!)}' ${v.from}\n` +
        "(the password from PGPASSWORD or ~/.pgpass; a dump made by pg_dump -Fc, docs/operations.md); " +
        "nothing was changed",
    );
    return 1;
  }
  const from = path.resolve(v.from);
  const file = path.resolve(target);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(from);
  } catch { /* said below */ }
  if (!stat?.isFile()) {
    console.error(
      `hub admin restore: --from ${v.from}: ${stat ? "not a file" : "no such file"}; nothing was changed`,
    );
    return 2;
  }
  if (from === file) {
    console.error("hub admin restore: --from is the hub's database itself; nothing was changed");
    return 2;
  }
  const dir = path.dirname(file);
  // A dry run checks its copy in a directory of its own: nothing is written beside the database.
  const dryRun = Boolean(v["dry-run"]);
  const scratch = dryRun ? Deno.makeTempDirSync({ prefix: "conduit-hub-restore-check-" }) : undefined;
  const part = scratch ? path.join(scratch, "hub.db.restore") : `${file}.restore`;
  const cleanUp = () => {
    for (const f of [part, `${part}-wal`, `${part}-shm`, `${part}-journal`]) fs.rmSync(f, { force: true });
  };
  const dropScratch = () => scratch && fs.rmSync(scratch, { recursive: true, force: true });
  let madeDir = false;
  let lock: Deno.FsFile | undefined;
  let kept: string | null = null;
  let swapped = false;
  // Ctrl-C (or SIGTERM) before hub.db changes: the copy removed, nothing changed, said; after, the restore
  // finishes (it cannot stop half way). It left hub.db.restore behind, saying nothing. A dry run changes
  // nothing: Ctrl-C ends it at once.
  const stop = dryRun
    ? undefined
    : stopSignal((signal) =>
      console.error(`hub admin restore: ${signal}: stopping, unless the database is already being replaced`)
    );
  try {
    // A copy of a live database made with cp: its last commits are in the -wal beside it, not in the file.
    const wal = fs.statSync(`${from}-wal`, { throwIfNoEntry: false });
    if (wal && wal.size > 0) {
      throw new RestoreError(
        `${from}-wal is beside it: the file is of a database still open (or copied while it was), and its ` +
          `last commits are in that log, not in the file; make the copy with ${HUB} admin backup`,
      );
    }
    if (!dryRun && !fs.existsSync(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      madeDir = true;
    }
    // Held exclusive to the end: a hub (or an admin command) of this version started meanwhile is refused
    // at its start instead of opening the file being replaced. A dry run only tries it (and makes no lock
    // file), and asks who has the database open.
    if (!dryRun || fs.existsSync(`${file}.lock`)) {
      lock = openDbLock(file);
      if (!lock.tryLockSync(true)) {
        throw inUse(file, openedBy([`${file}.lock`, file, `${file}-wal`, `${file}-shm`], fs));
      }
    }
    if (dryRun) {
      lock?.close();
      lock = undefined;
      const holders = fs.existsSync(file) ? openedBy([file, `${file}-wal`, `${file}-shm`], fs) : [];
      if (holders.length) throw inUse(file, holders);
    }
    cleanUp(); // a crashed restore's leftover
    fs.copyFileSync(from, part, fs.constants.COPYFILE_EXCL);
    fs.chmodSync(part, 0o600);
    syncPath(part);
    const hash = createHash("sha256");
    for await (const chunk of fs.createReadStream(part)) hash.update(chunk as Uint8Array);
    const sha256 = hash.digest("hex");
    const bytes = fs.statSync(part).size;
    const { schema, tables, present } = await check(part, from);
    if (dryRun) {
      const name = fs.existsSync(file) ? replacedName(file, fs.existsSync) : null;
      const sessions = present.has("sessions") ? await countSessions(part) : 0;
      dropScratch();
      const summary = {
        from,
        to: file,
        dryRun,
        kept: name,
        bytes,
        sha256,
        schema,
        tables,
        sessionsEnded: sessions,
      };
      if (v.json) console.log(JSON.stringify(summary));
      else {
        console.log(`dry run: ${from} is a whole hub database and would be restored into ${file}`);
        console.log(
          name ? `  the database it replaces would be kept as ${name}` : "  there is no database there",
        );
        console.log(`  the backup: ${bytes} bytes, sha256 ${sha256}, schema ${schema}`);
        console.log(`  ${Object.entries(tables).map(([t, n]) => `${n} ${t}`).join(", ")}`);
        console.log(`  ${sessions} console session(s) of the backup would be ended`);
        console.log("nothing was changed");
      }
      return 0;
    }
    await hooks.locked?.();
    const name = fs.existsSync(file) ? replacedName(file, fs.existsSync) : null;
    const sessionsEnded = await prepare(part, present, {
      from,
      sha256,
      schema,
      kept: name && path.basename(name),
    });
    syncPath(part);
    for (const f of [`${part}-wal`, `${part}-shm`, `${part}-journal`]) fs.rmSync(f, { force: true });
    // The last moment to stop: from here on hub.db is replaced.
    await signalsSettled();
    if (stop?.signal.aborted) throw new RestoreError(`stopped by ${stop.signal.reason}: nothing was changed`);

    if (name) {
      await quiesce(file);
      try {
        fs.linkSync(file, name);
      } catch {
        fs.copyFileSync(file, name, fs.constants.COPYFILE_EXCL);
        syncPath(name);
      }
      kept = name;
      // The old log and index go with the old file (SQLite would apply that log to the new one); after
      // quiesce() there are none, but for a file SQLite could not open.
      for (const suffix of ["-wal", "-shm", "-journal"]) {
        if (fs.existsSync(`${file}${suffix}`)) fs.renameSync(`${file}${suffix}`, `${kept}${suffix}`);
      }
      // The hub's user must be able to write the restored file, as it did the old one.
      if (Deno.uid() === 0) {
        const owner = fs.statSync(file);
        fs.chownSync(part, owner.uid, owner.gid);
      }
    } else if (Deno.uid() === 0) {
      const owner = fs.statSync(dir);
      fs.chownSync(part, owner.uid, owner.gid);
    }
    fs.renameSync(part, file);
    swapped = true;
    syncPath(dir);
    const summary = { from, to: file, kept, bytes, sha256, schema, tables, sessionsEnded };
    if (v.json) console.log(JSON.stringify(summary));
    else {
      console.log(`restored ${from} into ${file}`);
      console.log(
        kept ? `  the database it replaced is kept as ${kept}` : "  there was no database there before",
      );
      console.log(`  the backup: ${bytes} bytes, sha256 ${sha256}, schema ${schema}`);
      console.log(`  ${Object.entries(tables).map(([t, n]) => `${n} ${t}`).join(", ")}`);
      console.log(`  ${sessionsEnded} console session(s) of the backup ended (users log in again)`);
      console.log(
        "start the hub; an agent whose credential was rotated after the backup must enroll again " +
          "(docs/operations.md, Backup and restore)",
      );
    }
    if (stop?.signal.aborted) {
      console.error(
        `hub admin restore: ${stop.signal.reason} came once the database was being replaced: the restore ` +
          "was finished (it cannot stop half way)",
      );
    }
    return 0;
  } catch (err) {
    cleanUp();
    dropScratch();
    if (kept && !swapped) {
      // The old database stays hub.db, with its log and index if they were moved.
      for (const suffix of ["-wal", "-shm", "-journal"]) {
        if (fs.existsSync(`${kept}${suffix}`)) fs.renameSync(`${kept}${suffix}`, `${file}${suffix}`);
      }
      fs.rmSync(kept, { force: true });
    }
    lock?.close();
    lock = undefined;
    if (madeDir) fs.rmSync(dir, { recursive: true, force: true });
    if (err instanceof RestoreError) {
      console.error(`hub admin restore: ${err.message}`);
      return stop?.exitCode() ?? 1;
    }
    console.error(`hub admin restore: failed, nothing was changed: ${(err as Error).message}`);
    return stop?.exitCode() ?? 1;
  } finally {
    lock?.close(); // the exclusive lock released
    stop?.dispose();
  }
}
