/**
 * The hub's libsql database, migrated at open. The hub's writes are few (site state, sessions,
 * transfers), so one async drizzle client serves reads and writes; the admin CLI opens the same
 * file while the hub runs (WAL, busy timeout).
 */
import { createClient } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as schema from "./schema.ts";

export type HubDb = LibSQLDatabase<typeof schema> & { close(): void };

const MIGRATIONS = fileURLToPath(new URL("./migrations", import.meta.url));

export async function openHubDb(dataDir: string): Promise<HubDb> {
  fs.mkdirSync(dataDir, { recursive: true });
  const client = createClient({ url: `file:${path.join(dataDir, "hub.db")}` });
  await client.execute("PRAGMA journal_mode = WAL");
  await client.execute("PRAGMA busy_timeout = 5000");
  await client.execute("PRAGMA synchronous = FULL");
  const db = drizzle(client, { schema });
  await migrate(db, { migrationsFolder: MIGRATIONS });
  return Object.assign(db, { close: () => client.close() });
}
