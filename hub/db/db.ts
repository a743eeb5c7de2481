/**
 * The hub's database, migrated at open: the embedded libsql file under the data directory (the
 * default, `file:` or no `--db`), or a PostgreSQL shared by several hubs (`postgres://...`).
 *
 * libsql: the hub's writes are few (site state, sessions, transfers), so one async drizzle client
 * serves reads and writes; the admin CLI opens the same file while the hub runs (WAL, busy timeout).
 * PostgreSQL: the `postgres` driver (postgres.js: pure JavaScript, its own types, LISTEN/NOTIFY, runs
 * under Deno's Node compatibility), a small pool; migrations run under an advisory lock so hubs
 * starting together do not apply them twice.
 */
import { migrationTagIn } from "@conduit/shared/migrations";
import { createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { drizzle as drizzlePg } from "drizzle-orm/postgres-js";
import { migrate as migratePg } from "drizzle-orm/postgres-js/migrator";
import postgres from "postgres";
import { readMigrationFiles } from "drizzle-orm/migrator";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as tables from "./tables.ts";
import { type Dialect, tablesOf, useDialect } from "./schema.ts";
import { DbProbeError } from "./health.ts";
import { reconnectOnBusy } from "./busy.ts";

/** How long a statement waits for a lock another process holds (the admin CLI, a backup) before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * The hub's drizzle database. Its type is the libsql one (the schema's one description); on
 * PostgreSQL the same query builders run on the PostgreSQL twins of the tables. Write several rows
 * together with `atomically` (db/atomic.ts), never with libsql's `batch` directly.
 */
export type HubDb = Omit<LibSQLDatabase<typeof tables>, "batch"> & {
  /** Which database this is. */
  engine: Dialect;
  /** The raw PostgreSQL client (LISTEN/NOTIFY, advisory locks), on PostgreSQL only. */
  pg?: postgres.Sql;
  /**
   * Reads and writes the database once (the `healthz` row of `cluster_settings`), and on the libsql file
   * checks that the file is still the one opened; throws a DbProbeError saying what failed (hub/db/health.ts).
   */
  probe(): Promise<void>;
  close(): Promise<void>;
};

/** The statement of a probe: one small row, rewritten (its value is when it was last written). */
const PROBE_SQL = "INSERT INTO cluster_settings (key, value) VALUES ('healthz', $1) " +
  "ON CONFLICT (key) DO UPDATE SET value = excluded.value";

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));
const MIGRATIONS_PG = fileURLToPath(new URL("./migrations_pg", import.meta.url));

/** The tag of the migration applied at `appliedAt`, from this program's journal (shared/migrations.ts). */
export function migrationTag(appliedAt: number | null): string | null {
  return migrationTagIn(
    () => fs.readFileSync(path.join(MIGRATIONS, "meta", "_journal.json"), "utf8"),
    appliedAt,
  );
}
/** The newest migration this version has for the libsql file: its tag and drizzle's `created_at` (ms). */
export function newestMigration(): { tag: string; at: number } {
  const at = readMigrationFiles({ migrationsFolder: MIGRATIONS }).at(-1)?.folderMillis ?? 0;
  return { tag: migrationTag(at) ?? "(none)", at };
}

/** The advisory lock key that serializes migrations between hubs ("conduit" in ASCII). */
const MIGRATION_LOCK = 0x636f6e64756974;

export class DbUrlError extends Error {
  override name = "DbUrlError";
}

/** The hub's PostgreSQL cannot be connected to at start (refused, unknown host, bad login, no database). */
export class DbUnreachableError extends Error {
  override name = "DbUnreachableError";
}

/**
 * The database was last migrated by a newer version of the hub (an upgrade rolled back, or an older hub of
 * a cluster started after another was upgraded): this version would misread or break it, so it refuses to
 * start, and changes nothing.
 */
export class SchemaTooNewError extends Error {
  override name = "SchemaTooNewError";
}

/** A `hub admin restore` holds the database's lock file: the hub (or an admin command) must wait for it. */
export class DbRestoringError extends Error {
  override name = "DbRestoringError";
}

const LOCK_TEXT = "Held (flock) by the hub and its admin commands, shared, and by 'hub admin restore',\n" +
  "exclusive: a hub does not start while a restore replaces the database. Do not remove it.\n";

/**
 * Opens `<file>.lock` (made when missing, mode 0644: a shared or exclusive flock needs only a read), for
 * holdDbLock() and `hub admin restore`.
 */
export function openDbLock(file: string): Deno.FsFile {
  const lock = `${file}.lock`;
  try {
    return Deno.openSync(lock, { read: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  try {
    Deno.writeTextFileSync(lock, LOCK_TEXT, { createNew: true, mode: 0o644 });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err; // made meanwhile by another process
  }
  return Deno.openSync(lock, { read: true });
}

/**
 * Takes `<file>.lock` shared for as long as the database is open (released by close(), or by the end of
 * the process); refused while `hub admin restore` holds it exclusive. Several hubs and admin commands
 * share it; PostgreSQL has none.
 */
function holdDbLock(file: string): Deno.FsFile {
  const lock = openDbLock(file);
  let held = false;
  try {
    held = lock.tryLockSync(false);
  } finally {
    if (!held) lock.close();
  }
  if (!held) {
    throw new DbRestoringError(
      `the database ${file} is being restored (hub admin restore holds ${file}.lock): ` +
        "start again once the restore has ended; nothing was changed",
    );
  }
  return lock;
}

/** Refuses a schema newer than this version's migrations in `folder` (`applied`: the newest applied, in ms). */
function refuseNewerSchema(applied: number | undefined, folder: string, where: string): void {
  const newest = readMigrationFiles({ migrationsFolder: folder }).at(-1)?.folderMillis ?? 0;
  if (applied === undefined || !(applied > newest)) return;
  throw new SchemaTooNewError(
    `the database ${where} was written by a newer version of the hub (its schema is from ${
      new Date(applied).toISOString()
    }, this version knows schemas up to ${
      new Date(newest).toISOString()
    }): run that version or a later one, ` +
      "or restore the database's backup from before the upgrade",
  );
}

/** The newest migration applied (drizzle's `created_at`), or undefined on a database never migrated. */
function newestApplied(rows: { m?: unknown }[]): number | undefined {
  const m = rows[0]?.m;
  return m === null || m === undefined ? undefined : Number(m);
}

/** Which database a `--db` value names: the libsql file (absent or `file:`) or a PostgreSQL URL. */
export function parseDbUrl(url: string | undefined): { dialect: Dialect; file?: string; url?: string } {
  if (!url || url === "file:") return { dialect: "sqlite" };
  if (url.startsWith("file:")) return { dialect: "sqlite", file: url.slice("file:".length) };
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new DbUrlError(`--db: ${redactDbUrl(url)} is not a valid URL`);
    }
    return { dialect: "postgres", url };
  }
  throw new DbUrlError(
    `--db: use file:PATH or postgres://user:password@host:port/database, not ${redactDbUrl(url)}`,
  );
}

/** A database URL without its password, for logs and errors. */
export function redactDbUrl(url: string): string {
  return url.replace(/^(\w+:\/\/[^:/@]*):[^@]*@/, "$1:***@");
}

/** Opens (and migrates) the hub's database: `dbUrl` if given, else `hub.db` under `dataDir`. */
export async function openHubDb(dataDir: string, dbUrl?: string): Promise<HubDb> {
  const target = parseDbUrl(dbUrl);
  useDialect(target.dialect);
  if (target.dialect === "postgres") return await openPg(target.url!);
  return await openHubFile(target.file ?? path.join(dataDir, "hub.db"));
}

/** The libsql file `--db` names (absent or `file:`: `hub.db` under `dataDir`), or undefined for PostgreSQL. */
export function hubDbFile(dataDir: string, dbUrl?: string): string | undefined {
  const target = parseDbUrl(dbUrl);
  return target.dialect === "sqlite" ? target.file ?? path.join(dataDir, "hub.db") : undefined;
}

/**
 * Opens (and migrates) a hub's libsql file without choosing this process's dialect (schema.ts): the source
 * of `admin migrate-db`, which opens a PostgreSQL as well. Its queries use the SQLite tables (tables.ts).
 */
export async function openHubFile(file: string): Promise<HubDb> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const lock = holdDbLock(file);
  // One connection (@libsql/client 0.18 pools up to 20 by default, and a pragma set through the client
  // reaches only the connection that ran it: the others waited 0 ms on a lock), with the busy timeout on
  // every connection it opens; kept whole across SQLITE_BUSY (db/busy.ts).
  const client = reconnectOnBusy(
    createClient({ url: `file:${file}`, concurrency: 1, timeout: BUSY_TIMEOUT_MS }),
    ["PRAGMA synchronous = FULL"],
  );
  try {
    // Before anything is written: a newer version's database is left exactly as it is.
    const table = await client.execute(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'",
    );
    if (table.rows.length > 0) {
      const last = await client.execute('SELECT max(created_at) AS m FROM "__drizzle_migrations"');
      refuseNewerSchema(newestApplied(last.rows as { m?: unknown }[]), MIGRATIONS, file);
    }
  } catch (err) {
    client.close();
    lock.close();
    throw err;
  }
  let db;
  try {
    await client.execute("PRAGMA journal_mode = WAL");
    await client.execute("PRAGMA synchronous = FULL");
    db = drizzle(client, { schema: tables });
    await migrate(db, { migrationsFolder: MIGRATIONS });
  } catch (err) {
    client.close();
    lock.close();
    throw err;
  }
  // The file opened: one removed (or replaced) under the hub would take every later write with it.
  const opened = fs.statSync(file);
  const probe = async () => {
    let now: fs.Stats;
    try {
      now = fs.statSync(file);
    } catch (err) {
      throw new DbProbeError("the database file is gone", { cause: err });
    }
    if (now.ino !== opened.ino || now.dev !== opened.dev) {
      throw new DbProbeError("the database file was replaced");
    }
    try {
      await client.execute({ sql: PROBE_SQL.replace("$1", "?"), args: [String(Date.now())] });
    } catch (err) {
      throw new DbProbeError("the database cannot be written", { cause: err });
    }
  };
  // libsql leaves the log whole when the last connection closes (SQLite would fold it into the file and
  // remove it): a hub stopped (or an admin command done) left hub.db at 4 KiB with everything in
  // hub.db-wal, so a copy of hub.db alone was empty. The last one out folds it in and empties it; with
  // others still open (a hub running under an admin command) it does what it can, without waiting.
  const close = async () => {
    try {
      await client.execute("PRAGMA busy_timeout = 0");
      await client.execute("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch { /* busy, or the file gone: the log stays, SQLite applies it at the next open */ }
    client.close();
    try {
      lock.close(); // releases the shared lock
    } catch { /* closed twice */ }
  };
  return Object.assign(db, { engine: "sqlite" as const, probe, close });
}

/**
 * The wait before the `retries`-th attempt to open a connection again, in seconds: doubling from 50 ms, at
 * most 1 s, with jitter (many hubs do not all knock at once). An attempt on a database that is down is
 * refused at once, so a request meanwhile is answered 503 within about a second.
 */
export function reconnectDelayS(retries: number): number {
  return Math.min(0.05 * 2 ** retries, 1) * (0.5 + Math.random() / 2);
}

async function openPg(url: string): Promise<HubDb> {
  const sql = postgres(url, {
    max: 10,
    onnotice: () => {},
    connect_timeout: 10,
    // A hub that loses its database fails its queries rather than waiting forever.
    idle_timeout: 60,
    // Seconds before a connection that failed is opened again (a restart, a failover, a terminated
    // backend). postgres.js's own grows to 20 s after a minute away: every query waited for it, so requests
    // hung for up to 20 s while the database was away and the hub came back up to 20 s after it had.
    backoff: reconnectDelayS,
  });
  const db = drizzlePg(sql, { schema: tablesOf("postgres") });
  try {
    const lock = await sql.reserve().catch((err) => {
      // The first connection: its failure alone ("connect ECONNREFUSED 127.0.0.1:5432") named no database.
      throw new DbUnreachableError(
        `cannot reach the database ${redactDbUrl(url)}: ${(err as Error).message} (is PostgreSQL running ` +
          "there, and are the host, port, user, password and database of --db (or db, CONDUIT_HUB_DB) right?)",
      );
    });
    try {
      await lock`select pg_advisory_lock(${MIGRATION_LOCK})`;
      // Under the lock: a newer hub migrating at the same time has either finished (refused here) or not begun.
      const [{ t }] = await lock`select to_regclass('drizzle.__drizzle_migrations') is not null as t`;
      if (t) {
        const last = await lock`select max(created_at) as m from drizzle.__drizzle_migrations`;
        refuseNewerSchema(newestApplied(last), MIGRATIONS_PG, redactDbUrl(url));
      }
      await migratePg(db, { migrationsFolder: MIGRATIONS_PG });
    } finally {
      await lock`select pg_advisory_unlock(${MIGRATION_LOCK})`.catch(() => {});
      lock.release();
    }
  } catch (err) {
    await sql.end({ timeout: 5 }).catch(() => {});
    throw err;
  }
  const probe = async () => {
    try {
      await sql.unsafe(PROBE_SQL, [String(Date.now())]);
    } catch (err) {
      // A PostgresError is the server's answer (read-only, disk full...), but for the server shutting down
      // (57P..) or a connection failure (08...); anything else is the connection.
      const code = (err as { code?: unknown }).code;
      const answered = (err as Error).name === "PostgresError" && !/^(57P|08)/.test(String(code));
      throw new DbProbeError(
        answered ? "the database cannot be written" : "the database cannot be reached",
        { cause: err },
      );
    }
  };
  return Object.assign(db, {
    engine: "postgres" as const,
    pg: sql,
    probe,
    close: () => sql.end({ timeout: 5 }),
  }) as unknown as HubDb;
}
