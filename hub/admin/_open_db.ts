/**
 * How an admin command opens the hub's database: the one its `--data` / `--db` name, else the
 * configuration's. Only the commands that add something (`site add`, `token create`, `user add`) may make a
 * new libsql file, as a hub's first start would; any other finds none there and says so: it made an empty
 * one and answered from it ("no sites", exit code 0, for a mistyped `--data`).
 */
import * as fs from "node:fs";
import { type HubDb, hubDbFile, openHubDb } from "../db/db.ts";

/** The admin commands that may make the hub's first database. */
const MAKES_ONE = new Set(["site add", "token create", "user add"]);

/**
 * The database, or exit code 2 once the missing file is named on stderr.
 *
 * @param command the command as typed after `admin` ("site list", "audit")
 */
export async function openAdminDb(
  command: string,
  values: { data?: string; db?: string },
  defaults: { data: string; db?: string },
): Promise<HubDb | number> {
  const data = values.data ?? defaults.data;
  const db = values.db ?? defaults.db;
  let file;
  try {
    file = hubDbFile(data, db);
  } catch { /* not a database URL: openHubDb says so */ }
  if (file && !MAKES_ONE.has(command) && !fs.existsSync(file)) {
    console.error(
      `hub admin: no hub database at ${file}: give the hub's data directory (--data DIR) or configuration ` +
        "file (--config FILE), as the hub was started with; nothing was done",
    );
    return 2;
  }
  return await openHubDb(data, db);
}
