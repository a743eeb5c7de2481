/**
 * The agent's libsql database: one writer connection that every write goes through, one after the
 * other (libsql answers SQLITE_BUSY to a second writer at once), and a small pool for reads.
 */
import { type Client, createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import { fileURLToPath } from "node:url";
import * as schema from "./schema.ts";

export type AgentDb = LibSQLDatabase<typeof schema>;
/** What a write transaction sees. */
export type WriteTx = Parameters<Parameters<AgentDb["transaction"]>[0]>[0];

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

export class Database {
  readonly read: AgentDb;
  readonly #writeDb: AgentDb;
  readonly #clients: Client[];
  #tail: Promise<unknown> = Promise.resolve();

  private constructor(writer: Client, reader: Client) {
    this.#clients = [writer, reader];
    this.#writeDb = drizzle(writer, { schema });
    this.read = drizzle(reader, { schema });
  }

  /** Opens (creating if needed) and migrates the database file. */
  static async open(path: string): Promise<Database> {
    const url = `file:${path}`;
    const writer = createClient({ url, concurrency: 1 } as Parameters<typeof createClient>[0]);
    await writer.execute("PRAGMA journal_mode = WAL");
    await writer.execute("PRAGMA synchronous = NORMAL");
    await writer.execute("PRAGMA foreign_keys = ON");
    await writer.execute("PRAGMA busy_timeout = 5000");
    const db = new Database(
      writer,
      createClient({ url, concurrency: 4 } as Parameters<typeof createClient>[0]),
    );
    await migrate(db.#writeDb, { migrationsFolder: MIGRATIONS });
    return db;
  }

  /** Runs `fn` in one write transaction, after every write queued before it. */
  write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => this.#writeDb.transaction(fn));
    this.#tail = run.catch(() => {});
    return run;
  }

  /** True when a trivial read succeeds. */
  async healthy(): Promise<boolean> {
    try {
      await this.#clients[1].execute("SELECT 1");
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    for (const c of this.#clients) c.close();
  }
}
