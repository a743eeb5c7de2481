/**
 * The hub's entry for `deno compile` and the bundle (deploy/build.ts, deploy/bundle.ts): `main.ts` with its
 * parts imported by literal specifiers, so that both tools see and include them. Started from source,
 * `main.ts` names them by computed URLs instead, which Deno does not load before they are taken.
 */
import { type HubParts, runHubMain } from "./start.ts";

const parts: HubParts = {
  startHub: async () => (await import("./app.ts")).startHub,
  admin: {
    site: async () => (await import("./admin/site_command.ts")).siteCommand,
    token: async () => (await import("./admin/token_command.ts")).tokenCommand,
    user: async () => (await import("./admin/user_command.ts")).userCommand,
    hubs: async () => (await import("./admin/hubs_command.ts")).hubsCommand,
    audit: async () => (await import("./admin/audit_command.ts")).auditCommand,
    "migrate-db": async () => (await import("./admin/migrate_db_command.ts")).migrateDbCommand,
    backup: async () => (await import("./admin/backup_command.ts")).backupCommand,
    restore: async () => (await import("./admin/restore_command.ts")).restoreCommand,
  },
};

if (import.meta.main) await runHubMain(parts);
