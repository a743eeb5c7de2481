/**
 * `deno task agent check [--config FILE] [agent flags] [--json] [--no-network] [--timeout SECONDS]`: a
 * preflight for site IT, before the first start or after a change. It loads the configuration exactly as
 * the agent does (flags, CONDUIT_AGENT_* variables, the file, defaults; the same message and exit code 2 for
 * what it refuses), then checks the data directory, the ports, the TLS and key files, the routes, the
 * credential and, unless `--no-network`, each node (C-ECHO) and the hub. Nothing is started or taken: a
 * running agent on the same data directory keeps its lock, its ports and its tunnel.
 * Exit code: 0 when no check failed (warnings allowed), 1 when one failed, 2 for a configuration error.
 */
import { commandLine, commandOf } from "@conduit/shared/cli";
import { commandLineConfig, ConfigError, FLAGS } from "../config/load.ts";
import type { Check } from "../check/local.ts";
import { BUILD_TEXT } from "../version.ts";

const AGENT = commandOf("agent");

const USAGE = `usage: ${AGENT} check [--config FILE] [agent flags] [--json] [--no-network] [--timeout SECONDS]
  Loads the configuration as the agent does and checks, one line each (ok, warn or fail), after
  the agent's build (as --version says): the data directory (writable, file system, free space against archive.minFreeMegabytes, its lock),
  the DIMSE, DIMSE TLS and HTTP ports (bound and closed at once), the TLS files (readable, dates, key
  pairs), the de-identification key files, the routes and the site credential; then, unless
  --no-network, a C-ECHO to each node and each hub of hub.url (TLS, /healthz, the credential, no session).
options:
  --config FILE        the agent's configuration file; the agent's flags (--data, --port, --hub...) too
  --json               print the checks as a JSON array of { status, what, detail }
  --no-network         leave out the nodes and the hub
  --timeout SECONDS    each network check's limit (default 5)
exit code: 0 nothing failed (warnings allowed), 1 a check failed, 2 a configuration error`;

export async function checkCommand(args: string[]): Promise<number> {
  const options: Record<string, { type: "string" | "boolean" }> = {
    config: { type: "string" },
    json: { type: "boolean" },
    "no-network": { type: "boolean" },
    timeout: { type: "string" },
  };
  for (const name of Object.keys(FLAGS)) options[name] = { type: "string" };
  const parsed = commandLine("agent check", USAGE, args, options);
  if (typeof parsed === "number") return parsed;
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (parsed.positionals.length) {
    console.error(`agent check: unexpected argument ${JSON.stringify(parsed.positionals[0])}\n${USAGE}`);
    return 2;
  }
  const timeout = v.timeout === undefined ? 5 : Number(v.timeout);
  if (!(timeout > 0)) {
    console.error(`agent check: --timeout takes a number of seconds above 0\n${USAGE}`);
    return 2;
  }
  let config;
  try {
    config = commandLineConfig(v);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const { localChecks } = await import("../check/local.ts");
  // Which build would start (docs/operations.md, "Which build runs where"): what a support call asks first.
  const checks: Check[] = [
    { status: "ok", what: "agent build", detail: BUILD_TEXT },
    ...await localChecks(config, typeof v.config === "string" ? v.config : undefined),
  ];
  if (!v["no-network"]) {
    const { echoChecks, hubChecks } = await import("../check/network.ts");
    const [nodes, hubs] = await Promise.all([
      echoChecks(config, timeout * 1000),
      hubChecks(config, timeout * 1000),
    ]);
    checks.push(...nodes, ...hubs);
  }
  const failed = checks.filter((c) => c.status === "fail").length;
  if (v.json) {
    console.log(JSON.stringify(checks));
  } else {
    const width = Math.max(...checks.map((c) => c.what.length));
    for (const c of checks) console.log(`${c.status.padEnd(4)}  ${c.what.padEnd(width)}  ${c.detail}`);
    const warned = checks.filter((c) => c.status === "warn").length;
    console.log(
      `\n${checks.length - failed - warned} ok, ${warned} warning${warned === 1 ? "" : "s"}, ` +
        `${failed} failed${v["no-network"] ? " (network checks left out)" : ""}`,
    );
  }
  return failed ? 1 : 0;
}
