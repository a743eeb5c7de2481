/**
 * Layered configuration for both programs: defaults (in the zod schema), then the YAML file, then
 * environment variables, then flags; validated once. An error names the key, the reason and where
 * the value came from.
 */
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { z } from "zod";
import { closestKey, keysAt } from "./config_suggest.ts";

/** A configuration that cannot be used; `message` is meant for the operator as it is. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

export interface LoadInput {
  flags: Record<string, string>;
  env: Record<string, string | undefined>;
  readFile: (path: string) => string;
}

/** A number as a flag, a variable or a quoted YAML value writes it: decimal, optionally with a fraction. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A number key: a finite YAML number, or a string of one (`"11112"`, as flags and variables give it), then
 * `check` (its range, integer or not). Anything else (a key left empty, `true`, a list, `" "`, `0x68`) is
 * refused with `message`, where `z.coerce.number()` would read 0, 1 or the list's element.
 */
export function numberKey<T extends z.ZodTypeAny>(
  check: (n: z.ZodNumber) => T,
  message = "expected a number",
): z.ZodEffects<T, z.output<T>, unknown> {
  return z.preprocess(
    (v) => {
      // A key left out stays undefined: "missing", not the range of a value that is not a number.
      if (v === undefined) return v;
      if (typeof v === "string" && DECIMAL.test(v.trim())) v = Number(v);
      return typeof v === "number" && Number.isFinite(v) ? v : Number.NaN;
    },
    check(z.number({
      errorMap: (issue, ctx) => ({
        message: issue.code !== "invalid_type" || issue.expected !== "number"
          ? ctx.defaultError
          : issue.received === "undefined"
          ? `missing (this key is required): ${message.replace(/^expected /, "")}`
          : message,
      }),
    })),
  );
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
  /** The line in the file of a key's value (or of the key itself), 1-based. */
  let lineOf: (path: (string | number)[], key?: string) => number | undefined = () => undefined;
  if (file) {
    let text: string;
    try {
      text = input.readFile(file);
    } catch (err) {
      throw new ConfigError(`config: cannot read ${file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    const lines = new LineCounter();
    try {
      const doc = parseDocument(text, { lineCounter: lines });
      if (doc.errors.length) throw doc.errors[0];
      parsed = doc.toJS();
      lineOf = (path, key) => {
        let node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
        if (key !== undefined && isMap(node)) {
          const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
          node = pair?.key as typeof node;
        }
        // A value missing from a mapping: the mapping's line.
        for (let up = path.length - 1; !node?.range && up >= 0; up--) {
          node = doc.getIn(path.slice(0, up), true) as typeof node;
        }
        return node?.range ? lines.linePos(node.range[0]).line : undefined;
      };
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
  if (!result.success) {
    throw new ConfigError(formatIssues(result.error, raw, origin, file, schema, lineOf));
  }
  return { config: result.data, file };
}

function formatIssues(
  error: z.ZodError,
  raw: Record<string, unknown>,
  origin: Map<string, string>,
  file: string | undefined,
  schema: z.ZodTypeAny,
  lineOf: (path: (string | number)[], key?: string) => number | undefined,
): string {
  // zod reports every unknown key of one mapping in one issue: one line per key, each with its own line
  // and its own hint (until 2026-12-07 `dimse.prot.maxAssociation: unknown key` for two keys).
  const issues = error.issues.flatMap(unionBranch).flatMap((issue) =>
    issue.code === "unrecognized_keys" && issue.keys.length > 1
      ? issue.keys.map((k) => ({ ...issue, keys: [k] }))
      : [issue]
  );
  return issues.map((issue) => {
    let key = issue.path.join(".");
    let reason = issue.message;
    if (issue.code === "invalid_type" && issue.received === "undefined" && reason === "Required") {
      // zod's bare "Required" said nothing of what to write there.
      reason = "missing (this key is required)";
    }
    if (issue.code === "unrecognized_keys") {
      key = [...issue.path, ...issue.keys].join(".");
      const known = keysAt(schema, issue.path);
      const meant = issue.keys.length === 1 ? closestKey(issue.keys[0], known) : undefined;
      reason = meant ? `unknown key (did you mean ${meant}?)` : "unknown key";
    }
    const got = lookup(raw, issue.path);
    // A URL's password (a proxy's, http://user:password@host) is never echoed.
    const shown = got !== undefined && issue.code !== "unrecognized_keys"
      ? `, got ${JSON.stringify(got).replace(/(\/\/[^/@\s"]*?:)[^/@\s"]*@/g, "$1***@")}`
      : "";
    let where = origin.get(issue.path.join("."));
    if (!where && file) {
      // Where in the file: the unknown key, or the value (the mapping that lacks it).
      const line = issue.code === "unrecognized_keys" && issue.keys.length === 1
        ? lineOf(issue.path, issue.keys[0])
        : issue.path.length
        ? lineOf(issue.path)
        : undefined;
      where = line ? `${file}, line ${line}` : file;
    }
    where ??= "defaults";
    return `config: ${key || "(top level)"}: ${reason}${shown} (${where})`;
  }).join("\n");
}

/**
 * A value that fits no option of a union (a route's `window`: one window or a list) is reported by what is
 * wrong with it as the option of its own shape (an object, a list) sees it: `window.end: missing`, not zod's
 * bare "Invalid input" (until 2026-12-08). Options that refuse the value's type outright are passed over.
 */
function unionBranch(issue: z.ZodIssue): z.ZodIssue[] {
  if (issue.code !== "invalid_union") return [issue];
  const fitting = issue.unionErrors.filter((e) =>
    !e.issues.some((i) => i.code === "invalid_type" && i.path.length === issue.path.length)
  );
  if (fitting.length === 1) return fitting[0].issues.flatMap(unionBranch);
  if (fitting.length > 0) return [issue];
  // Of a type no option takes: say which types they take.
  const expected = issue.unionErrors.flatMap((e) =>
    e.issues.flatMap((i) =>
      i.code === "invalid_type" && i.path.length === issue.path.length ? [i.expected] : []
    )
  );
  return [{ ...issue, message: `expected ${[...new Set(expected)].join(" or ")}` }];
}

function lookup(raw: unknown, path: (string | number)[]): unknown {
  let node = raw;
  for (const p of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[p as string];
  }
  return node;
}
