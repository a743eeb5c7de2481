/**
 * Layered configuration: defaults, then the YAML file, then CONDUIT_AGENT_* variables, then flags;
 * validated once. An error names the key, the reason and where the value came from.
 */
import * as fs from "node:fs";
import { ConfigError, type FlagTable, type LoadInput, loadLayered } from "@conduit/shared/config";
import { type AgentConfig, configSchema } from "./schema.ts";

export { ConfigError, type LoadInput };

/** Flags (and their variables) and the config key each one sets. */
export const FLAGS: FlagTable = {
  site: { key: "site", help: "site name, as the hub knows it" },
  data: { key: "data", help: "data directory (archive, index, queue)" },
  aet: { key: "dimse.aet", help: "our AE title (default CONDUIT)" },
  host: { key: "dimse.host", help: "DIMSE listen address (default 0.0.0.0)" },
  port: { key: "dimse.port", help: "DIMSE port (default 11112)" },
  "max-associations": { key: "dimse.maxAssociations", help: "concurrent associations (default 32)" },
  "allowed-calling-aets": { key: "dimse.allowedCallingAets", help: "comma-separated calling AEs, or *" },
  "http-host": { key: "http.host", help: "HTTP listen address (default 127.0.0.1)" },
  "http-port": { key: "http.port", help: "HTTP port for /healthz and /metrics (default 8181)" },
  hub: { key: "hub.url", help: "hub tunnel URL (wss://...), or several hubs' separated by commas" },
  "hub-proxy": {
    key: "hub.proxy",
    help: "outbound HTTP proxy to the hub, http://[user:password@]host:port (default: HTTPS_PROXY)",
  },
  "log-level": { key: "log.level", help: "debug, info, warn or error" },
};

/** Builds and validates the agent's configuration. */
export function loadConfig(input: LoadInput): { config: AgentConfig; file?: string } {
  return loadLayered({
    schema: configSchema,
    flags: FLAGS,
    envPrefix: "CONDUIT_AGENT_",
    flagValue: (name, raw) =>
      name === "allowed-calling-aets" ? raw.split(",").map((s) => s.trim()).filter(Boolean) : raw,
  }, input);
}

/**
 * The configuration of a command line: its string options (`--config`, `--data`, ... as FLAGS names them;
 * those in `only` when given, else all of them), the process's CONDUIT_AGENT_* variables and the file
 * `--config` names. Throws ConfigError (the commands print it and exit 2).
 */
export function commandLineConfig(values: Record<string, unknown>, only?: string[]): AgentConfig {
  const flags: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === "string" && (k === "config" || k in FLAGS) && (!only || only.includes(k))) flags[k] = v;
  }
  return loadConfig({ flags, env: Deno.env.toObject(), readFile: (p) => fs.readFileSync(p, "utf8") }).config;
}
