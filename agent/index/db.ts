/**
 * The agent's libsql database. Every write goes through one connection, synchronously: a write
 * transaction is a few prepared statements that run in tens of microseconds, and being synchronous
 * no two can interleave (libsql answers SQLITE_BUSY to a second writer in the same process). Reads
 * use a small async pool with drizzle on top. Migrations are drizzle-kit's, applied at open.
 */
import { createClient } from "@libsql/client";
import LibsqlDatabase from "libsql";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { fileURLToPath } from "node:url";
import * as schema from "./schema.ts";

export type AgentDb = LibSQLDatabase<typeof schema>;

/** A prepared statement on the writer connection (better-sqlite3 style API). */
export interface Statement {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): Record<string, unknown> | undefined;
  all(...params: unknown[]): Record<string, unknown>[];
}

interface Writer {
  prepare(sql: string): Statement;
  exec(sql: string): void;
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  close(): void;
}

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

export interface OpenOptions {
  /** fsync every commit (synchronous=FULL): the index survives power loss, not only a crash. */
  durable?: boolean;
}

export class Database {
  readonly read: AgentDb;
  readonly #reader: ReturnType<typeof createClient>;
  readonly #writer: Writer;
  readonly #statements = new Map<string, Statement>();
  /** Open `write` calls (0: no transaction). */
  #depth = 0;
  /** Commits are synced (synchronous=FULL). */
  readonly #durable: boolean;
  /** Resolves once acknowledged writes that are not committed yet are (see `caughtUp`). */
  #pending: () => Promise<void> = () => Promise.resolve();

  private constructor(reader: ReturnType<typeof createClient>, writer: Writer, durable: boolean) {
    this.#reader = reader;
    this.#writer = writer;
    this.#durable = durable;
    this.read = drizzle(reader, { schema });
  }

  /** Opens (creating if needed) and migrates the database file. */
  static async open(path: string, options: OpenOptions = {}): Promise<Database> {
    const url = `file:${path}`;
    const migrator = createClient({ url, concurrency: 1 } as Parameters<typeof createClient>[0]);
    try {
      await migrator.execute("PRAGMA journal_mode = WAL");
      await migrate(drizzle(migrator, { schema }), { migrationsFolder: MIGRATIONS });
    } finally {
      migrator.close();
    }
    const writer = new LibsqlDatabase(path) as unknown as Writer;
    writer.exec(
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.durable === false ? "NORMAL" : "FULL"};
      PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;`,
    );
    const reader = createClient({ url, concurrency: 4 } as Parameters<typeof createClient>[0]);
    return new Database(reader, writer, options.durable !== false);
  }

  /** A cached prepared statement on the writer connection. */
  statement(sql: string): Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#writer.prepare(sql);
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
        return this.#writer.transaction(fn)();
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
    try {
      return this.write(fn);
    } finally {
      this.statement("PRAGMA synchronous = FULL").run();
    }
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

  /** One plain read query on the reader pool. */
  async query<T = Record<string, unknown>>(sql: string, args: (string | number | null)[] = []): Promise<T[]> {
    const rs = await this.#reader.execute({ sql, args });
    return rs.rows as unknown as T[];
  }

  /** True when a trivial read succeeds. */
  async healthy(): Promise<boolean> {
    try {
      await this.#reader.execute("SELECT 1");
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    this.#reader.close();
    this.#writer.close();
  }
}
