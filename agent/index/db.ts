/**
 * The agent's libsql database. Every write goes through one connection, synchronously: a write
 * transaction is a few prepared statements that run in tens of microseconds, and being synchronous
 * no two can interleave (libsql answers SQLITE_BUSY to a second writer in the same process). Reads go
 * through a second connection, also synchronously (in WAL mode a reader sees the last commit and never
 * waits for the writer), with drizzle's `sql` templates rendered by its SQLite dialect. Migrations are
 * drizzle-kit's, applied at open as drizzle's own migrator would (same `__drizzle_migrations` table).
 */
import { migrationTagIn } from "@conduit/shared/migrations";
import LibsqlDatabase from "libsql";
import type { SQL } from "drizzle-orm";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import { fileURLToPath } from "node:url";
import * as fs from "node:fs";
import * as path from "node:path";
import { SharedSync } from "../archive/shared_sync.ts";
import { LazyPartError } from "../lazy_part.ts";

/** A prepared statement (better-sqlite3 style API). */
export interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Record<string, unknown> | undefined;
  all(...params: unknown[]): Record<string, unknown>[];
}

interface Connection {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  close(): void;
}

/** Reads of the index with drizzle's `sql` templates. */
export interface Reader {
  all<T = Record<string, unknown>>(query: SQL): Promise<T[]>;
}

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));
const MIGRATIONS_TABLE = "__drizzle_migrations";

/** The tag of the migration applied at `appliedAt`, from this program's journal (shared/migrations.ts). */
export function migrationTag(appliedAt: number | null): string | null {
  return migrationTagIn(
    () => fs.readFileSync(path.join(MIGRATIONS, "meta", "_journal.json"), "utf8"),
    appliedAt,
  );
}
/**
 * `st` with its parameters handed to libsql as one array, so always bound by position. libsql (0.5.29) takes
 * a lone object argument for named parameters: a lone Uint8Array or Date there panics its Rust binding, which
 * ends the process at once, and a lone null throws "failed to downcast any to object". Several arguments, or
 * arrays among them, are flattened as libsql flattens them.
 */
export function positional(st: Statement): Statement {
  return {
    run: (...params) => st.run(params.flat()),
    get: (...params) => st.get(params.flat()),
    all: (...params) => st.all(params.flat()),
  };
}

/** Prepared read statements kept (queries differ by their columns and conditions). */
const READ_STATEMENTS = 256;

/** Applies the migrations not applied yet, in one transaction, recording them as drizzle's migrator does. */
function migrate(db: Connection, path: string): void {
  const migrations = readMigrationFiles({ migrationsFolder: MIGRATIONS });
  db.exec(`CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" (
    id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
  const last = db.prepare(`SELECT created_at FROM "${MIGRATIONS_TABLE}" ORDER BY created_at DESC LIMIT 1`)
    .get() as { created_at?: number | string } | undefined;
  const newest = migrations.at(-1)?.folderMillis ?? 0;
  if (last && Number(last.created_at) > newest) {
    // A later version's schema (an upgrade rolled back): this version would misread or break it.
    throw new Error(
      `${path} was written by a newer version of the agent (its schema is from ${
        new Date(Number(last.created_at)).toISOString()
      }, this version knows schemas up to ${
        new Date(newest).toISOString()
      }): run that version, or restore the ` +
        "data directory's backup from before the upgrade",
    );
  }
  const pending = migrations.filter((m) => !last || Number(last.created_at) < m.folderMillis);
  if (pending.length === 0) return;
  const record = db.prepare(`INSERT INTO "${MIGRATIONS_TABLE}" ("hash", "created_at") VALUES (?, ?)`);
  db.transaction(() => {
    for (const m of pending) {
      for (const statement of m.sql) if (statement.trim()) db.exec(statement);
      record.run(m.hash, m.folderMillis);
    }
  })();
}

/** A value as SQLite binds it (as @libsql/client converted them). */
function bindable(v: unknown): unknown {
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof Date) return v.getTime();
  return v;
}

export interface OpenOptions {
  /** fsync every commit (synchronous=FULL): the index survives power loss, not only a crash. */
  durable?: boolean;
}

export class Database {
  readonly read: Reader;
  readonly #reader: Connection;
  readonly #writer: Connection;
  readonly #statements = new Map<string, Statement>();
  readonly #readStatements = new Map<string, Statement>();
  /** Open `write` calls (0: no transaction). */
  #depth = 0;
  /** Commits are synced (synchronous=FULL). */
  readonly #durable: boolean;
  /** Resolves once acknowledged writes that are not committed yet are (see `caughtUp`). */
  #pending: () => Promise<void> = () => Promise.resolve();
  /** The write-ahead log's fsync for `syncLog` (durable databases only). */
  readonly #logSync: SharedSync | undefined;
  /** Inside `writeUnsynced`: the transaction commits without a flush. */
  #unsynced = false;
  /**
   * drizzle's SQLite dialect, loaded with the first `read.all` (issue 16: drizzle's query code is some 100
   * modules that an idle agent does not need; whoever builds an `SQL` has loaded drizzle-orm by then).
   */
  #dialect?: SQLiteAsyncDialect;
  /**
   * Write transactions committed since open: `synced` flushed the disk at their commit (synchronous=FULL),
   * `unsynced` did not (`writeUnsynced`, or a database opened with `durable: false`). Savepoints inside a
   * transaction are not counted. For tests and diagnostics: what a path costs the disk.
   */
  readonly commits = { synced: 0, unsynced: 0 };

  private constructor(reader: Connection, writer: Connection, durable: boolean, path: string) {
    this.#reader = reader;
    this.#writer = writer;
    this.#durable = durable;
    // The log is made at the first write and removed only when the last connection closes (ours are
    // open until close()), so a handle kept on it syncs the file SQLite writes.
    this.#logSync = durable ? new SharedSync(`${path}-wal`) : undefined;
    const run = <T>(dialect: SQLiteAsyncDialect, query: SQL) => {
      const q = dialect.sqlToQuery(query);
      return this.#read(q.sql).all(...q.params.map(bindable)) as T[];
    };
    this.read = {
      all: <T>(query: SQL) => {
        if (!this.#dialect) return this.#loadDialect().then((dialect) => run<T>(dialect, query));
        try {
          return Promise.resolve(run<T>(this.#dialect, query));
        } catch (err) {
          return Promise.reject(err);
        }
      },
    };
  }

  /** Loads drizzle's SQLite dialect (`#dialect`); a failed load rejects that read with a LazyPartError. */
  async #loadDialect(): Promise<SQLiteAsyncDialect> {
    let dialect;
    try {
      dialect = await import("drizzle-orm/sqlite-core");
    } catch (err) {
      throw new LazyPartError("drizzle-orm/sqlite-core (the index's query renderer)", err);
    }
    return this.#dialect ??= new dialect.SQLiteAsyncDialect();
  }

  /** Opens (creating if needed) and migrates the database file. */
  static async open(path: string, options: OpenOptions = {}): Promise<Database> {
    const writer = new LibsqlDatabase(path) as unknown as Connection;
    try {
      // Wait for a lock first, before the journal mode and the migrations: at a start right after a crash, a
      // reader of the file (an operator's sqlite3, agent backup, a monitoring script) may hold it a moment,
      // and "database is locked" ended the start.
      writer.exec("PRAGMA busy_timeout = 5000");
      writer.exec("PRAGMA journal_mode = WAL");
      migrate(writer, path);
      writer.exec(
        `PRAGMA synchronous = ${options.durable === false ? "NORMAL" : "FULL"};
        PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;`,
      );
    } catch (err) {
      writer.close();
      throw err;
    }
    const reader = new LibsqlDatabase(path) as unknown as Connection;
    return await Promise.resolve(new Database(reader, writer, options.durable !== false, path));
  }

  /** A cached prepared statement on the reader connection. */
  #read(sql: string): Statement {
    let st = this.#readStatements.get(sql);
    if (!st) {
      if (this.#readStatements.size >= READ_STATEMENTS) {
        this.#readStatements.delete(this.#readStatements.keys().next().value!);
      }
      st = positional(this.#reader.prepare(sql));
      this.#readStatements.set(sql, st);
    }
    return st;
  }

  /** A cached prepared statement on the writer connection. */
  statement(sql: string): Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = positional(this.#writer.prepare(sql));
      this.#statements.set(sql, st);
    }
    return st;
  }

  /**
   * Runs `fn` as one write transaction, synchronously; it commits when `fn` returns, rolls back if it throws.
   * Inside another `write` it is a savepoint: a throw undoes only its own changes (a group commit writes
   * many objects in one transaction and lets one fail alone).
   */
  write<T>(fn: () => T): T {
    if (this.#depth === 0) {
      this.#depth++;
      try {
        const result = this.#writer.transaction(fn)();
        if (this.#durable && !this.#unsynced) this.commits.synced++;
        else this.commits.unsynced++;
        return result;
      } finally {
        this.#depth--;
      }
    }
    const name = `nested_${this.#depth}`;
    this.#writer.exec(`SAVEPOINT ${name}`);
    this.#depth++;
    try {
      const result = fn();
      this.#writer.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      this.#writer.exec(`ROLLBACK TO ${name}`);
      this.#writer.exec(`RELEASE ${name}`);
      throw err;
    } finally {
      this.#depth--;
    }
  }

  /**
   * Like `write`, but its commit is not synced to the disk: a crash of the agent keeps it, a power loss
   * may undo it, and the next synced commit makes it durable with itself (one write-ahead log). Only for
   * changes that are safe to lose, whose loss means doing a step again: a queue row claimed, released or
   * marked done after its destination acknowledged (lost, the object is sent again, as after a crash
   * between the acknowledgement and the commit). The forward path then pays no disk flush per object.
   */
  writeUnsynced<T>(fn: () => T): T {
    if (!this.#durable || this.#depth > 0) return this.write(fn);
    this.statement("PRAGMA synchronous = NORMAL").run();
    this.#unsynced = true;
    try {
      return this.write(fn);
    } finally {
      this.#unsynced = false;
      this.statement("PRAGMA synchronous = FULL").run();
    }
  }

  /**
   * Makes every commit so far durable, `writeUnsynced`'s included: one fsync of the write-ahead log on
   * Deno's blocking-operation threads, not on the event loop's (a synced commit blocks it for the whole
   * flush, and every association and stream with it), shared by whoever asks while one runs. In WAL mode
   * a commit is the log's frames and its commit record; once they are on the disk the commit survives a
   * power loss (synchronous=NORMAL still syncs the log before a checkpoint copies it into the database
   * file, and the database file after).
   */
  syncLog(): Promise<void> {
    return this.#logSync?.sync() ?? Promise.resolve();
  }

  /**
   * Readers of what is archived (queries, retrieves, transfers, WADO) call this before they read: it
   * resolves once every object answered Success so far has its rows here, although the group commit
   * writes them after the answer (agent/ingest/group_commit.ts).
   */
  caughtUp(): Promise<void> {
    return this.#pending();
  }

  /** Sets what `caughtUp` waits for (the group commit's settled()). */
  waitFor(pending: () => Promise<void>): void {
    this.#pending = pending;
  }

  /** One plain read query on the reader connection. */
  query<T = Record<string, unknown>>(sql: string, args: (string | number | null)[] = []): Promise<T[]> {
    try {
      return Promise.resolve(this.#read(sql).all(...args) as T[]);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** True when a trivial read succeeds. */
  healthy(): Promise<boolean> {
    try {
      this.#read("SELECT 1").get();
      return Promise.resolve(true);
    } catch {
      return Promise.resolve(false);
    }
  }

  close(): void {
    void this.#logSync?.close();
    this.#reader.close();
    // libsql leaves the log whole when the last connection closes (SQLite would fold it into the file and
    // remove it): a stopped agent left agent.db at 4 KiB with everything in agent.db-wal, so a copy of
    // agent.db alone was an empty database. The last one out folds it in; with another connection still
    // open (an agent command) it does what it can, without waiting.
    try {
      this.#writer.exec("PRAGMA busy_timeout = 0; PRAGMA wal_checkpoint(TRUNCATE);");
    } catch { /* busy: the log stays, and SQLite applies it at the next open */ }
    this.#writer.close();
  }
}
