/**
 * What the hub's two entries share (`main.ts` from source, `main_packaged.ts` for `deno compile` and the
 * bundle): `hub [flags]`, the central hub, and `hub admin ...`, administration on its database; the usage,
 * the admin commands' defaults, and running it as the process. The hub itself and each admin command are
 * parts the entry hands in (`HubParts`), loaded when taken.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { onReloadSignal, runAsProcess, untilStopSignal } from "@conduit/shared/process";
import { ConfigError } from "@conduit/shared/config";
import { commandOf, parseFlags } from "@conduit/shared/cli";
import { HUB_FLAGS, type HubConfig, loadHubConfig } from "./config.ts";
import { HUB_CONFIG_RELOAD_MESSAGES } from "./reload.ts";
import type { RunningHub } from "./app.ts";
import { DbRestoringError, DbUnreachableError, DbUrlError, SchemaTooNewError } from "./db/db.ts";
import { HubTlsError } from "./tls_files.ts";
import { HubDirInUseError } from "./data_lock.ts";
import { GIVE_IT, noDefaultDb } from "./admin/open_db.ts";
import { buildJson } from "@conduit/shared/build";
import { BUILD, BUILD_TEXT } from "./version.ts";

const HUB = commandOf("hub");

/** An admin command: its arguments (after `admin NAME`) and the database named by default, its exit code out. */
export type AdminCommand = (
  args: string[],
  defaults: { data: string; db?: string; fresh?: boolean; publicUrl?: string },
) => Promise<number>;

/** The admin commands, by name (`hub admin site ...`). */
export const ADMIN_COMMANDS = [
  "site",
  "token",
  "user",
  "hubs",
  "audit",
  "migrate-db",
  "backup",
  "restore",
] as const;

/**
 * How `main` reaches the hub (`app.ts`'s `startHub`) and the admin commands: loaded when taken, so that an
 * admin command (a process of its own, often run from scripts) loads none of the hub's server, API or
 * DICOMweb code, nor the other commands.
 */
export interface HubParts {
  startHub: () => Promise<(config: HubConfig, log: Logger) => Promise<RunningHub>>;
  admin: Record<(typeof ADMIN_COMMANDS)[number], () => Promise<AdminCommand>>;
}

function usage(): string {
  const lines = Object.entries(HUB_FLAGS).map(([name, f]) => `  --${name.padEnd(22)} ${f.help}  [${f.key}]`);
  return [
    `conduit hub ${BUILD_TEXT}`,
    `usage: ${HUB} [--config FILE] [flags]`,
    `       ${HUB} admin site add|list|revoke|rotate|uplink|downlink ... [--json] [--config FILE | --data DIR | --db URL]`,
    `       ${HUB} admin token create NAME --role ROLE [--sites a,b] | list | revoke ID [--json]`,
    `       ${HUB} admin user add NAME --role ROLE [--password-stdin] | list | role | password | disable |`,
    "         enable ... [--json]",
    `       ${HUB} admin hubs [--json]`,
    `       ${HUB} admin audit [--actor A] [--action X] [--target T] [--from T] [--to T] [--limit N|all]`,
    "         [--csv | --json]",
    `       ${HUB} admin migrate-db --to postgres://... [--from file:PATH | --data DIR] [--json]`,
    `       ${HUB} admin backup --out FILE [--config FILE | --data DIR | --db URL] [--json]`,
    `       ${HUB} admin restore --from FILE [--config FILE | --data DIR | --db file:PATH] [--json]`,
    "",
    "  --config FILE            YAML configuration file",
    ...lines,
    "  --help                   this help (admin --help: the admin commands)",
    "  --version [--json]       the hub's build: version, commit, its date, modified or not",
    "",
    "Every flag but --config, --help and --version is also a configuration key (in brackets) and a",
    "CONDUIT_HUB_* variable (--public-url: CONDUIT_HUB_PUBLIC_URL).",
  ].join("\n");
}

const ADMIN_USAGE = [
  `usage: ${HUB} admin site add NAME | list | revoke NAME | rotate NAME | uplink NAME MBIT_PER_S|none`,
  `       ${HUB} admin site downlink NAME MBIT_PER_S|none`,
  `       ${HUB} admin token create NAME --role viewer|operator|admin [--sites a,b] | list | revoke ID`,
  `       ${HUB} admin user add NAME --role viewer|operator|admin [--password-stdin] | list`,
  `       ${HUB} admin user role NAME --role ROLE | password NAME | disable NAME | enable NAME`,
  `       ${HUB} admin hubs      (the hubs of a cluster, their versions and sites)`,
  `       ${HUB} admin audit [--actor A] [--action X] [--target T] [--from T] [--to T]`,
  "                 [--limit N|all] [--csv]   (the audit log, newest first; see admin audit --help)",
  `       ${HUB} admin migrate-db --to postgres://user:pass@host/db [--from file:PATH]`,
  "                 (copies a hub's libsql file into an empty PostgreSQL, to run the hub on it)",
  `       ${HUB} admin backup --out FILE   (a consistent copy of the hub's libsql file, while it runs;`,
  "                 on PostgreSQL: the pg_dump command to run instead)",
  `       ${HUB} admin restore --from FILE [--dry-run]   (puts a backup back as the hub's libsql`,
  "                 file, the hub stopped; the replaced one kept beside it; --dry-run: checks and says what",
  "                 it would do; on PostgreSQL: the pg_restore to run instead)",
  "",
  "Every admin command works on the hub's database, whether or not the hub runs (restore: the hub stopped),",
  "and takes:",
  "  --config FILE  the hub's configuration file (or CONDUIT_HUB_CONFIG): its data and db",
  "  --data DIR     the hub's data directory (default: the config's, else ./data/hub; from the",
  "                 repository while `deno task demo` runs, the demo's .demo/hub)",
  "  --db URL       the hub's database when it is not the file under --data: postgres://user:pass@host/db",
  "                 (default: the config's db, else CONDUIT_HUB_DB)",
  "  --json         print one JSON object on stdout",
  `  --help         the command's own help (${HUB} admin site --help)`,
].join("\n");

/**
 * The data directory and database an admin command works on when it names none: the configuration's
 * (file, CONDUIT_HUB_DATA, CONDUIT_HUB_DB), else ./data/hub, unless that does not exist and a demo runs
 * from here (.demo/hub beside its demo.json): then the demo's, said on stderr.
 */
function adminDefaults(
  args: string[],
  configFile?: string,
): { data: string; db?: string; fresh?: boolean; publicUrl?: string } {
  let data = "./data/hub";
  let db = Deno.env.get("CONDUIT_HUB_DB");
  let publicUrl: string | undefined;
  let configured = false;
  try {
    const loaded = load(configFile ? { config: configFile } : {});
    data = loaded.config.data;
    db = loaded.config.db;
    publicUrl = loaded.config.publicUrl;
    configured = Boolean(loaded.file) || Deno.env.has("CONDUIT_HUB_DATA") || Boolean(db);
  } catch (err) {
    // A file named (--config, CONDUIT_HUB_CONFIG) that cannot be used is the operator's mistake to hear
    // about: the command would otherwise work on ./data/hub, a database the hub does not use.
    if (configFile || Deno.env.has("CONDUIT_HUB_CONFIG")) throw err;
    /* the admin commands take --data and --db */
  }
  const named = (flag: string) => args.includes(flag) || args.some((a) => a.startsWith(`${flag}=`));
  if (named("--data") || named("--db") || configured) return { data, db, publicUrl };
  const demo = Deno.env.get("CONDUIT_DEMO_DIR") ?? ".demo";
  // (An empty ./data/hub, left by a hub that could not start, does not hide the demo's.)
  const noDatabase = !fs.existsSync(path.join(data, "hub.db"));
  if (noDatabase && fs.existsSync(`${demo}/demo.json`) && fs.existsSync(`${demo}/hub`)) {
    console.error(`hub admin: no ${data}; using the demo's hub data in ${demo}/hub`);
    return { data: `${demo}/hub` };
  }
  return { data, db, fresh: !db && noDatabase };
}

function load(flags: Record<string, string>) {
  return loadHubConfig({ flags, env: Deno.env.toObject(), readFile: (p) => fs.readFileSync(p, "utf8") });
}

export async function main(args: string[], parts: HubParts): Promise<number> {
  if (args[0] === "--") args = args.slice(1);
  if (args[0] === "admin") {
    if (args[1] === undefined) {
      // A usage error: the usage goes where errors go (it went to stdout, with exit code 2).
      console.error(`hub admin: give a command\n\n${ADMIN_USAGE}`);
      return 2;
    }
    if (args[1] === "--help" || args[1] === "-h" || args[1] === "help") {
      console.log(ADMIN_USAGE);
      return 0;
    }
    // `--config FILE`, as the hub itself takes: the data directory and database of the hub started with it.
    const rest = args.slice(2);
    let configFile: string | undefined;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "--config" || rest[i].startsWith("--config=")) {
        const value = rest[i] === "--config" ? rest[i + 1] : rest[i].slice("--config=".length);
        if (!value || value.startsWith("--")) {
          console.error("hub admin: --config needs the hub's configuration file (--config hub.yaml)");
          return 2;
        }
        configFile = value;
        rest.splice(i, rest[i] === "--config" ? 2 : 1);
        break;
      }
    }
    let defaults;
    try {
      defaults = adminDefaults(rest, configFile);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(err.message);
        return 2;
      }
      throw err;
    }
    if (defaults.fresh && args[1] === "restore" && !rest.includes("--help") && !rest.includes("-h")) {
      // Nothing named, and no database in the default place: said, as site, token, user, hubs and audit say
      // it (hub/admin/open_db.ts), for a hub started elsewhere.
      const doing = rest.includes("--dry-run") ? "a dry run of a restore into it" : "restoring into it";
      console.error(
        `hub admin: ${noDefaultDb(defaults.data)}: ${doing}; for a hub started elsewhere, ${GIVE_IT}`,
      );
    }
    try {
      const name = ADMIN_COMMANDS.find((c) => c === args[1]);
      if (name) return await (await parts.admin[name]())(rest, defaults);
    } catch (err) {
      if (err instanceof DbUrlError) {
        console.error(`hub admin: ${err.message}`);
        return 2;
      }
      if (
        err instanceof SchemaTooNewError || err instanceof DbUnreachableError ||
        err instanceof DbRestoringError
      ) {
        console.error(`hub admin: ${err.message}`);
        return 1;
      }
      throw err;
    }
    console.error(`hub admin: unknown command ${args[1]}\n\n${ADMIN_USAGE}`);
    return 2;
  }
  const options: Record<string, { type: "string" | "boolean" }> = {
    config: { type: "string" },
    help: { type: "boolean" },
    version: { type: "boolean" },
    json: { type: "boolean" },
  };
  for (const name of Object.keys(HUB_FLAGS)) options[name] = { type: "string" };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseFlags({ args, options, strict: true }).values;
  } catch (err) {
    console.error(`hub: ${(err as Error).message}\n\n${usage()}`);
    return 2;
  }
  if (values.help) return console.log(usage()), 0;
  if (values.version) return console.log(values.json ? JSON.stringify(buildJson(BUILD)) : BUILD_TEXT), 0;
  if (values.json) return console.error(`hub: --json goes with --version (or admin)\n\n${usage()}`), 2;
  const flags = Object.fromEntries(
    Object.entries(values).filter(([, v]) => typeof v === "string"),
  ) as Record<string, string>;
  let config;
  let file: string | undefined;
  try {
    ({ config, file } = load(flags));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const log = new Logger({ app: "hub" }, config.log.level);
  // The first line of every start, before anything can fail: which build this is.
  log.info("hub starting", { build: BUILD_TEXT });
  let hub;
  try {
    const startHub = await parts.startHub();
    hub = await startHub(config, log);
  } catch (err) {
    if (err instanceof DbUrlError || err instanceof HubTlsError) {
      console.error(`hub: ${err.message}`);
      return 2;
    }
    if (
      err instanceof SchemaTooNewError || err instanceof DbUnreachableError ||
      err instanceof DbRestoringError ||
      err instanceof HubDirInUseError
    ) {
      // Nothing started and nothing written: the message is all there is to say (no stack).
      console.error(`hub: ${err.message}`);
      return 1;
    }
    throw err;
  }
  // SIGHUP: the configuration file (its log level, CORS, relay policy and STOW limit), then the renewed HTTPS
  // certificate and key, read again (docs/operations.md).
  const stopReloads = onReloadSignal(log, "hub", () => {
    if (file) hub.reloadConfig(() => load(flags).config);
    else log.child({ part: "config" }).info(HUB_CONFIG_RELOAD_MESSAGES.noFile);
    hub.reloadTls();
  });
  await untilStopSignal(log, "hub");
  stopReloads();
  await hub.stop();
  return 0;
}

/**
 * Runs `main` as the process. A failure inside a callback must not end the hub (every other site goes on); a
 * failure of main itself (its port in use, for example) ends it with exit code 1 (shared/process.ts).
 */
export async function runHubMain(parts: HubParts): Promise<never> {
  return await runAsProcess(() => main(Deno.args, parts), new Logger({ app: "hub" }), "hub failed");
}
