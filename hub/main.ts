/**
 * `deno task hub [flags]`: the central hub, and `deno task hub admin ...`: administration on its database
 * (start.ts). The hub itself and each admin command are loaded when asked for, so that an admin command need
 * not load the hub's server, API and DICOMweb code nor the other commands.
 *
 * They are named by computed URLs: Deno loads the whole module graph of every `import()` written with a
 * literal specifier before the program starts, taken or not (about half of an admin command's CPU time that
 * way). `main_packaged.ts` is the same entry with literal specifiers, for `deno compile` and the bundle,
 * which must see every part to include it.
 */
import { type HubParts, runHubMain } from "./start.ts";

const here = (file: string) => new URL(file, import.meta.url).href;

const parts: HubParts = {
  startHub: async () => (await import(here("./app.ts"))).startHub,
  admin: {
    site: async () => (await import(here("./admin/site_command.ts"))).siteCommand,
    token: async () => (await import(here("./admin/token_command.ts"))).tokenCommand,
    user: async () => (await import(here("./admin/user_command.ts"))).userCommand,
    hubs: async () => (await import(here("./admin/hubs_command.ts"))).hubsCommand,
    audit: async () => (await import(here("./admin/audit_command.ts"))).auditCommand,
    "migrate-db": async () => (await import(here("./admin/migrate_db_command.ts"))).migrateDbCommand,
    backup: async () => (await import(here("./admin/backup_command.ts"))).backupCommand,
    restore: async () => (await import(here("./admin/restore_command.ts"))).restoreCommand,
  },
};

if (import.meta.main) await runHubMain(parts);
