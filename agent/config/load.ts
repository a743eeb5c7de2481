/**
 * Layered configuration: defaults, then the YAML file, then CONDUIT_AGENT_* variables, then flags;
 * validated once. An error names the key, the reason and where the value came from.
 */
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { type AgentConfig, configSchema } from "./schema.ts";

/** A configuration that cannot be used; `message` is meant for the operator as it is. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Flags (and their variables) and the config key each one sets. */
export const FLAGS: Record<string, { key: string; help: string }> = {
  site: { key: "site", help: "site name, as the hub knows it" },
  data: { key: "data", help: "data directory (archive, index, queue)" },
  aet: { key: "dimse.aet", help: "our AE title (default CONDUIT)" },
  host: { key: "dimse.host", help: "DIMSE listen address (default 0.0.0.0)" },
  port: { key: "dimse.port", help: "DIMSE port (default 11112)" },
  "max-associations": { key: "dimse.maxAssociations", help: "concurrent associations (default 32)" },
  "allowed-calling-aets": { key: "dimse.allowedCallingAets", help: "comma-separated calling AEs, or *" },
  "http-host": { key: "http.host", help: "HTTP listen address (default 127.0.0.1)" },
  "http-port": { key: "http.port", help: "HTTP port for /healthz and /metrics (default 8181)" },
  hub: { key: "hub.url", help: "hub tunnel URL (wss://...)" },
  "log-level": { key: "log.level", help: "debug, info, warn or error" },
};

export interface LoadInput {
  flags: Record<string, string>;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
}

function setPath(target: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split(".");
  let node = target;
  for (const p of parts.slice(0, -1)) {
    if (typeof node[p] !== "object" || node[p] === null) node[p] = {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function flagValue(name: string, raw: string): unknown {
  if (name === "allowed-calling-aets") return raw.split(",").map((s) => s.trim()).filter(Boolean);
  return raw;
}

/** Builds and validates the configuration. */
export function loadConfig(input: LoadInput): { config: AgentConfig; file?: string } {
  const file = input.flags.config ?? input.env.CONDUIT_AGENT_CONFIG;
  let raw: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try {
      text = input.readFile(file);
    } catch (err) {
      throw new ConfigError(`config: cannot read ${file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (err) {
      throw new ConfigError(`config: ${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== "object" || Array.isArray(parsed))) {
      throw new ConfigError(`config: ${file}: expected a mapping of keys at the top level`);
    }
    raw = (parsed ?? {}) as Record<string, unknown>;
  }
  const origin = new Map<string, string>();
  for (const [name, { key }] of Object.entries(FLAGS)) {
    const envName = `CONDUIT_AGENT_${name.toUpperCase().replace(/-/g, "_")}`;
    const value = input.env[envName];
    if (value !== undefined && value !== "") {
      setPath(raw, key, flagValue(name, value));
      origin.set(key, `variable ${envName}`);
    }
  }
  for (const [name, { key }] of Object.entries(FLAGS)) {
    const value = input.flags[name];
    if (value !== undefined) {
      setPath(raw, key, flagValue(name, value));
      origin.set(key, `flag --${name}`);
    }
  }
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(formatIssues(result.error, raw, origin, file));
  return { config: result.data, file };
}

function formatIssues(
  error: z.ZodError,
  raw: Record<string, unknown>,
  origin: Map<string, string>,
  file?: string,
): string {
  return error.issues.map((issue) => {
    let key = issue.path.join(".");
    let reason = issue.message;
    if (issue.code === "unrecognized_keys") {
      key = [...issue.path, ...issue.keys].join(".");
      reason = "unknown key";
    }
    const got = lookup(raw, issue.path);
    const shown = got !== undefined && issue.code !== "unrecognized_keys"
      ? `, got ${JSON.stringify(got)}`
      : "";
    const where = origin.get(issue.path.join(".")) ?? (file ?? "defaults");
    return `config: ${key || "(top level)"}: ${reason}${shown} (${where})`;
  }).join("\n");
}

function lookup(raw: unknown, path: (string | number)[]): unknown {
  let node = raw;
  for (const p of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[p as string];
  }
  return node;
}
