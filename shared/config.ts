/**
 * Layered configuration for both programs: defaults (in the zod schema), then the YAML file, then
 * environment variables, then flags; validated once. An error names the key, the reason and where
 * the value came from.
 */
import { parse as parseYaml } from "yaml";
import type { z } from "zod";

/** A configuration that cannot be used; `message` is meant for the operator as it is. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface LoadInput {
  flags: Record<string, string>;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
}

/** A program's flags: each sets a config key and has a `<envPrefix><NAME>` variable. */
export type FlagTable = Record<string, { key: string; help: string }>;

export interface Layering<T> {
  schema: z.ZodType<T, z.ZodTypeDef, unknown>;
  flags: FlagTable;
  /** `CONDUIT_AGENT_` or `CONDUIT_HUB_`. */
  envPrefix: string;
  /** Turns a flag's text into the config value (lists, for example). */
  flagValue?: (name: string, raw: string) => unknown;
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

/** Builds and validates a configuration from defaults, the YAML file, variables and flags. */
export function loadLayered<T>(layering: Layering<T>, input: LoadInput): { config: T; file?: string } {
  const { schema, flags: FLAGS, envPrefix } = layering;
  const flagValue = layering.flagValue ?? ((_: string, raw: string) => raw);
  const file = input.flags.config ?? input.env[`${envPrefix}CONFIG`];
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
    const envName = `${envPrefix}${name.toUpperCase().replace(/-/g, "_")}`;
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
  const result = schema.safeParse(raw);
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
