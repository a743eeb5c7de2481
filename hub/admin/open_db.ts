/**
 * How an admin command opens the hub's database: the one its `--data` / `--db` name, else the
 * configuration's. Only the commands that add something (`site add`, `token create`, `user add`) may make a
 * new libsql file, as a hub's first start would; any other finds none there and says so: it made an empty
 * one and answered from it ("no sites", exit code 0, for a mistyped `--data`). With nothing named and no
 * database in the default place (`defaults.fresh`, hub/main.ts), the same, in the words of that place.
 */
import * as fs from "node:fs";
import { type HubDb, hubDbFile, openHubDb } from "../db/db.ts";

/** The admin commands that may make the hub's first database. */
const MAKES_ONE = new Set(["site add", "token create", "user add"]);

/** What to do when the database is not where the admin command looked without being told. */
export const GIVE_IT =
  "give the hub's configuration file (--config FILE, as the hub was started with) or --data DIR";

/** The default data directory (`defaults.fresh`: nothing named, no hub.db there), said. */
export function noDefaultDb(data: string): string {
  return `no hub database in ${data} (the default data directory)`;
}

/**
 * The database, or exit code 2 once the missing file is named on stderr.
 *
 * @param command the command as typed after `admin` ("site list", "audit")
 */
export async function openAdminDb(
  command: string,
  values: { data?: string; db?: string },
  defaults: { data: string; db?: string; fresh?: boolean },
): Promise<HubDb | number> {
  const data = values.data ?? defaults.data;
  const db = values.db ?? defaults.db;
  if (defaults.fresh) {
    // Nothing named where the hub's database is, and none in the default place: a hub started with --config
    // or --data has it elsewhere ("no site named north" about a site that exists, before). Said once the
    // command line is known good (it said "making one there" of a `site add` then refused without a name).
    if (!MAKES_ONE.has(command)) {
      console.error(`hub admin: ${noDefaultDb(defaults.data)}: ${GIVE_IT}; nothing was done`);
      return 2;
    }
    console.error(
      `hub admin: ${noDefaultDb(defaults.data)}: making one there; for a hub started elsewhere, ${GIVE_IT}`,
    );
    return await openHubDb(data, db);
  }
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
