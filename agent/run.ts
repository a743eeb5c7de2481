/**
 * Running the agent itself (no subcommand): flags, configuration, enrollment, start, and stop on a
 * signal. Loaded by `main.ts` only when no subcommand is given.
 */
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { onReloadSignal, untilStopSignal } from "@conduit/shared/process";
import { commandOf, parseFlags } from "@conduit/shared/cli";
import { commandLineConfig, ConfigError, FLAGS } from "./config/load.ts";
import { buildJson } from "@conduit/shared/build";
import { BUILD, BUILD_TEXT } from "./version.ts";
import { loadPart, usePartLog } from "./lazy_part.ts";

function usage(): string {
  const agent = commandOf("agent");
  const lines = Object.entries(FLAGS).map(([name, f]) => `  --${name.padEnd(22)} ${f.help}  [${f.key}]`);
  return [
    `conduit agent ${BUILD_TEXT}`,
    `usage: ${agent} [--config FILE] [flags]`,
    `       ${agent} check [--config FILE] [flags] [--json] [--no-network]   (check before starting)`,
    `       ${agent} node list|echo|find|retrieve|store ...   (act on a configured node)`,
    `       ${agent} queue list|summary|retry|replay|abandon|discard|pause|resume ...   (the forward queue)`,
    `       ${agent} conflicts [--since WHEN] [--unresolved] [--limit N] [--json]   (objects received again with other bytes)`,
    `       ${agent} conflicts resolve ID --keep stored|received   (settle one, through the running agent)`,
    `       ${agent} erase --study UID [--series UID [--instance UID]] --yes   (erase for good)`,
    `       ${agent} route test FILE|DIR...   (which routes objects would take)`,
    `       ${agent} backup --out DIR [--with-archive]   (a consistent copy, while the agent runs)`,
    `       ${agent} restore --from DIR   (puts a backup back, the agent stopped)`,
    `       ${agent} enroll --token TOKEN [--hub URL] [--config FILE]   (enroll with the hub, then exit)`,
    `       ${agent} deid --profile basic [--option NAME ...] --key-file FILE --in DIR|FILE --out DIR   (de-identify)`,
    "",
    "  --config FILE            YAML configuration file",
    ...lines,
    "  --enroll TOKEN           enroll with the hub (--hub) using a one-time token from",
    "                           'hub admin site add', keep the site credential, then run",
    "  --help                   this help",
    "  --version [--json]       the agent's build: version, commit, its date, modified or not",
    "",
    "Every flag but --config, --enroll, --help and --version is also a configuration key (in brackets)",
    "and a CONDUIT_AGENT_* variable (--http-port: CONDUIT_AGENT_HTTP_PORT).",
    "Precedence: flags, then variables, then the file, then defaults.",
  ].join("\n");
}

/** Runs the agent with these flags until SIGINT or SIGTERM; returns the exit code. */
export async function runAgent(args: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean" }> = {
    config: { type: "string" },
    enroll: { type: "string" },
    help: { type: "boolean" },
    version: { type: "boolean" },
    json: { type: "boolean" },
  };
  for (const name of Object.keys(FLAGS)) options[name] = { type: "string" };
  let parsed;
  try {
    parsed = parseFlags({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`agent: ${(err as Error).message}\n\n${usage()}`);
    return 2;
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    console.log(usage());
    return 0;
  }
  // Before --version: `agent --version extra` printed the version and dropped the argument (the hub refuses it).
  if (parsed.positionals.length) {
    console.error(`agent: unexpected argument ${JSON.stringify(parsed.positionals[0])}\n\n${usage()}`);
    return 2;
  }
  if (values.version) {
    console.log(values.json ? JSON.stringify(buildJson(BUILD)) : BUILD_TEXT);
    return 0;
  }
  if (values.json) {
    console.error(`agent: --json goes with --version (or a subcommand)\n\n${usage()}`);
    return 2;
  }
  let config;
  try {
    config = commandLineConfig(values);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  if (typeof values.enroll === "string") {
    const { enrollAgent } = await loadPart("tunnel/enroll_command");
    const code = await enrollAgent(config, values.enroll);
    if (code !== 0) return code;
  }
  // Without `site`, an enrolled agent is the site its credential names: its log says so (it said
  // "standalone" on every line of an agent connected to the hub as north).
  let site = config.site;
  if (!site && config.hub.url) {
    const { loadCredential } = await loadPart("tunnel/credential");
    try {
      site = loadCredential(path.resolve(config.data))?.site;
    } catch { /* a credential file that cannot be read is reported at start */ }
  }
  const log = new Logger({ site: site ?? "standalone" }, config.log.level);
  usePartLog(log);
  // The first line of every start, before anything can fail: which build this is.
  log.info("agent starting", { build: BUILD_TEXT });
  let agent;
  try {
    const { startAgent } = await import("./app.ts");
    agent = await startAgent(config, log);
  } catch (err) {
    if (
      ["RouteConfigError", "KeyFileError", "TlsFileError", "ProxySettingError"].includes((err as Error).name)
    ) {
      console.error((err as Error).message);
      return 2;
    }
    log.error("agent failed to start", { reason: (err as Error).message });
    return 1;
  }
  // SIGHUP: the configuration file (its nodes, routes and allowed calling AE titles), then the renewed TLS
  // files (dimse.tls, hub.*, nodes.*.tls), read again (docs/operations.md); one reload at a time.
  let reloading = Promise.resolve();
  const stopReloads = onReloadSignal(log, "agent", () =>
    reloading = reloading.then(async () => {
      await agent.reloadConfig(() => commandLineConfig(values));
      agent.reloadTls();
    }).catch((err) => log.error("agent reload failed", { reason: (err as Error).message })));
  await untilStopSignal(log, "agent");
  stopReloads();
  await agent.stop();
  return 0;
}
