/**
 * docs/configuration.md against the schemas: every key of the agent's and the hub's configuration is in
 * the reference tables with its type's range or values, its default, its flag and its variable, and no
 * documented key is missing from the schema. Derived from the code, so the two cannot drift.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { configSchema } from "../../agent/config/schema.ts";
import { FLAGS } from "../../agent/config/load.ts";
import { HUB_FLAGS, hubConfigSchema } from "../../hub/config.ts";
import type { FlagTable } from "@conduit/shared/config";
import { backoffMs } from "../../agent/queue/policy.ts";
import { readDoc, type Row, section, tables } from "../support/markdown.ts";

interface Leaf {
  key: string;
  schema: z.ZodTypeAny;
  /** The key's schema with its refinements, without its default or optional. */
  whole: z.ZodTypeAny;
  default?: unknown;
}

/** Strips defaults, optionals and effects (refinements, number preprocessing) off a schema. */
function unwrap(s: z.ZodTypeAny): { inner: z.ZodTypeAny; whole: z.ZodTypeAny; default?: unknown } {
  let def: unknown;
  let whole: z.ZodTypeAny | undefined;
  for (;;) {
    if (s instanceof z.ZodDefault) {
      def ??= s._def.defaultValue();
      s = s._def.innerType;
    } else if (s instanceof z.ZodOptional) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) {
      whole ??= s;
      s = s._def.schema;
    } else return { inner: s, whole: whole ?? s, default: def };
  }
}

/** The configuration's keys: an object's keys are walked into, anything else is a key. */
function leaves(schema: z.ZodTypeAny, prefix = ""): Leaf[] {
  const { inner, whole, default: def } = unwrap(schema);
  if (inner instanceof z.ZodObject) {
    return Object.entries(inner.shape as Record<string, z.ZodTypeAny>)
      .flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
  }
  return [{ key: prefix, schema: inner, whole, default: def }];
}

/** How the document writes a default: `CONDUIT`, `11112`, `["*"]`; unset or "—" without one. */
function documentedDefault(cell: string): unknown {
  if (cell === "unset" || cell === "—" || cell === "none") return undefined;
  const m = /^`(.*)`$/.exec(cell);
  assert.ok(m, `default "${cell}" is neither \`value\`, unset nor —`);
  try {
    return JSON.parse(m[1]);
  } catch {
    return m[1];
  }
}

/** What the type cell must say about a key's values: its bounds, or each of its values. */
function typeProblems(leaf: Leaf, cell: string): string[] {
  const problems: string[] = [];
  const s = leaf.schema;
  /** Whether the key, with its refinements (a port above 0), takes a value. */
  const takes = (v: number) => leaf.whole.safeParse(v).success;
  if (s instanceof z.ZodNumber) {
    let min: { value: number; inclusive: boolean } | undefined;
    let max: { value: number; inclusive: boolean } | undefined;
    let int = false;
    for (const c of s._def.checks) {
      if (c.kind === "min") min = c;
      if (c.kind === "max") max = c;
      if (c.kind === "int") int = true;
    }
    if (int && min?.inclusive && max?.inclusive) {
      while (min.value < max.value && !takes(min.value)) min = { ...min, value: min.value + 1 };
      if (!cell.includes(`${min.value}–${max.value}`)) problems.push(`expected ${min.value}–${max.value}`);
    } else {
      if (min) {
        const says = `${min.inclusive ? "≥" : ">"} ${min.value}`;
        if (!cell.includes(says)) problems.push(`expected "${says}"`);
      }
      if (max) {
        const says = `${max.inclusive ? "≤" : "<"} ${max.value}`;
        if (!cell.includes(says)) problems.push(`expected "${says}"`);
      }
      if (int && !cell.includes("integer")) problems.push(`expected "integer"`);
      if (!int && !cell.includes("number")) problems.push(`expected "number" (fractions are accepted)`);
    }
  } else if (s instanceof z.ZodEnum) {
    for (const v of s._def.values as string[]) {
      if (!cell.includes(`\`${v}\``)) problems.push(`expected \`${v}\` among the values`);
    }
  } else if (s instanceof z.ZodBoolean) {
    if (cell !== "boolean") problems.push(`expected "boolean"`);
  }
  return problems;
}

/** The key column's keys: `a`, or `a`, `b` for keys documented together. */
function keysOf(row: Row): string[] {
  return [...row.key.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}

function check(
  name: string,
  schemaKeys: Leaf[],
  flags: FlagTable | undefined,
  envPrefix: string,
  rows: Row[],
  opts: { variables: boolean },
): string[] {
  const problems: string[] = [];
  const documented = new Map<string, Row>();
  for (const row of rows) for (const key of keysOf(row)) documented.set(key, row);
  const known = new Set(schemaKeys.map((l) => l.key));
  for (const key of documented.keys()) {
    if (!known.has(key)) problems.push(`${name}: ${key} is documented but not in the schema`);
  }
  const flagOf = new Map(Object.entries(flags ?? {}).map(([flag, f]) => [f.key, flag]));
  for (const leaf of schemaKeys) {
    const row = documented.get(leaf.key);
    if (!row) {
      problems.push(`${name}: ${leaf.key} is not documented`);
      continue;
    }
    const def = documentedDefault(row.default);
    if (JSON.stringify(def) !== JSON.stringify(leaf.default)) {
      problems.push(
        `${name}: ${leaf.key}: default ${row.default}, the schema's is ${JSON.stringify(leaf.default)}`,
      );
    }
    for (const p of typeProblems(leaf, row.type)) {
      problems.push(`${name}: ${leaf.key}: type "${row.type}": ${p}`);
    }
    const flag = flagOf.get(leaf.key);
    const wantFlag = flag ? `\`--${flag}\`` : "—";
    if (flags && row.flag !== wantFlag) {
      problems.push(`${name}: ${leaf.key}: flag ${row.flag}, expected ${wantFlag}`);
    }
    if (opts.variables) {
      const wantVar = flag ? `\`${envPrefix}${flag.toUpperCase().replaceAll("-", "_")}\`` : "—";
      if (row.variable !== wantVar) {
        problems.push(`${name}: ${leaf.key}: variable ${row.variable}, expected ${wantVar}`);
      }
    }
  }
  return problems;
}

const doc = readDoc("docs/configuration.md");

Deno.test("docs/configuration.md documents every agent key with its type, default, flag and variable", () => {
  const [reference] = tables(section(doc, "## Key reference"));
  assert.ok(reference.length > 30);
  // The table's own first row is the file (`--config`), not a key.
  const rows = reference.filter((r) => r.key !== "(file)");
  const problems = check("agent", leaves(configSchema), FLAGS, "CONDUIT_AGENT_", rows, { variables: true });
  assert.deepEqual(problems, []);
});

Deno.test("docs/configuration.md documents every hub key with its type, default and flag", () => {
  const [reference] = tables(section(doc, "# Hub configuration"));
  assert.ok(reference.length > 10);
  const problems = check("hub", leaves(hubConfigSchema), HUB_FLAGS, "CONDUIT_HUB_", reference, {
    variables: false,
  });
  assert.deepEqual(problems, []);
});

/** The schema of an object inside the configuration (`nodes`' values, `routes`' elements). */
function part(path: string[]): z.ZodObject<z.ZodRawShape> {
  let s: z.ZodTypeAny = configSchema;
  for (const p of path) {
    s = unwrap(s).inner;
    if (s instanceof z.ZodObject) s = s.shape[p];
    else if (s instanceof z.ZodRecord) s = s._def.valueType;
    else if (s instanceof z.ZodArray) s = s._def.type;
    else throw new Error(`cannot walk into ${p}`);
  }
  return unwrap(s).inner as z.ZodObject<z.ZodRawShape>;
}

/** An object's own fields, without walking into those that are objects themselves. */
function fields(obj: z.ZodObject<z.ZodRawShape>): Leaf[] {
  return Object.entries(obj.shape).map(([key, v]) => {
    const u = unwrap(v);
    return { key, schema: u.inner, whole: u.whole, default: u.default };
  });
}

Deno.test("docs/configuration.md's Nodes table has every field of a node, with its range and default", () => {
  const [table] = tables(section(doc, "## Nodes"));
  const rows = table.filter((r) => r.field !== "(name)").map((r) => ({ ...r, key: r.field }));
  const problems = check("nodes", fields(part(["nodes", "*"])), undefined, "", rows, { variables: false });
  assert.deepEqual(problems, []);
});

Deno.test("docs/configuration.md's Routes table has every field of a route and of its match and exclude", () => {
  const [table] = tables(section(doc, "## Routes"));
  const route = part(["routes", "*"]);
  assert.deepEqual(table.map((r) => keysOf({ key: r.field })[0]).sort(), Object.keys(route.shape).sort());
  for (const sub of ["match", "exclude", "deid"]) {
    const cell = table.find((r) => r.field === `\`${sub}\``)!.type;
    for (const key of Object.keys(part(["routes", "*", sub]).shape)) {
      if (sub === "deid" && key === "options") continue; // "options?: [...]"
      assert.ok(new RegExp(`\\b${key}\\b`).test(cell), `routes[].${sub}.${key} is not in "${cell}"`);
    }
  }
});

Deno.test("docs/configuration.md's De-identification table has every key of deid and of a route's deid", () => {
  const [table] = tables(section(doc, "## De-identification"));
  const leaves = [
    ...fields(part(["deid"])).map((l) => ({ ...l, key: `deid.${l.key}` })),
    ...fields(part(["routes", "*", "deid"])).map((l) => ({ ...l, key: `routes[].deid.${l.key}` })),
  ];
  // A route's keyFile defaults to `deid.keyFile` (in the code, at compile time), not in the schema.
  const rows = table.map((r) => r.key === "`routes[].deid.keyFile`" ? { ...r, default: "unset" } : r);
  assert.deepEqual(check("deid", leaves, undefined, "", rows, { variables: false }), []);
});

Deno.test("docs/routing.md's Fields table has every field of a route, and its match and exclude keys", () => {
  const routing = readDoc("docs/routing.md");
  const [table] = tables(section(routing, "## Fields"));
  const route = part(["routes", "*"]);
  assert.deepEqual(table.map((r) => keysOf({ key: r.field })[0]).sort(), Object.keys(route.shape).sort());
  for (const sub of ["match", "exclude", "deid"]) {
    const cell = table.find((r) => r.field === `\`${sub}\``)!.type;
    for (const key of Object.keys(part(["routes", "*", sub]).shape)) {
      assert.ok(new RegExp(`\\b${key}\\b`).test(cell), `routes[].${sub}.${key} is not in "${cell}"`);
    }
  }
  // Both kinds of destination.
  const to = table.find((r) => r.field === "`to`")!.type;
  assert.match(to, /\{ node/);
  assert.match(to, /\{ site/);
  const [lists] = tables(section(routing, "### `match` and `exclude` lists"));
  const listKeys = Object.keys(part(["routes", "*", "match"]).shape).filter((k) => k !== "tags");
  assert.deepEqual(lists.map((r) => keysOf(r)[0]), listKeys);
});

Deno.test("every backoff formula in the documents is the code's: the n-th failure waits below base × 2^(n−1)", () => {
  // The code: after the n-th failed attempt, a wait in [0, min(cap, base × 2^(n−1))).
  const almostOne = () => 1 - 1e-12;
  for (let n = 1; n <= 6; n++) assert.equal(backoffMs(n, 1000, 1e9, almostOne), 1000 * 2 ** (n - 1) - 1);
  const formulas: string[] = [];
  for (const file of ["docs/configuration.md", "docs/tunnel.md", "docs/operations.md", "docs/routing.md"]) {
    for (const m of readDoc(file).matchAll(/× 2\^(\([^)]*\)|\w+)/g)) formulas.push(`${file}: ${m[0]}`);
  }
  assert.ok(formulas.length >= 4, formulas.join("\n"));
  assert.deepEqual(formulas.filter((f) => !f.endsWith("× 2^(n−1)")), []);
});

/** Whether a dotted key (`nodes.pacs.tls.ca`, `routes[].deid.keyFile`) names a key of the schema. */
function resolves(schema: z.ZodTypeAny, parts: string[]): boolean {
  let s = schema;
  for (const [i, p] of parts.entries()) {
    s = unwrap(s).inner;
    if (s instanceof z.ZodRecord) s = s._def.valueType; // `nodes.pacs`: any name
    else if (s instanceof z.ZodArray) {
      s = s._def.type; // `routes[]`, `routes.0`
      if (!/^\d+$/.test(p)) return resolves(s, parts.slice(i));
    } else if (s instanceof z.ZodUnion) {
      return (s._def.options as z.ZodTypeAny[]).some((o) => resolves(o, parts.slice(i)));
    } else if (s instanceof z.ZodObject) {
      if (!(p in s.shape)) return false;
      s = s.shape[p];
    } else return false;
  }
  return true;
}

Deno.test("every configuration key any document names exists in the agent's or the hub's schema", () => {
  // Sections that hold keys (`site` is a key itself: `site.add` is a procedure).
  const shapes = { ...configSchema.shape, ...hubConfigSchema.shape } as Record<string, z.ZodTypeAny>;
  const sections = new Set(
    Object.entries(shapes).filter(([, v]) => !(unwrap(v).inner instanceof z.ZodString)).map(([k]) => k),
  );
  const files = [
    "README.md",
    ...[...Deno.readDirSync(new URL("../../docs/", import.meta.url))]
      .filter((e) => e.name.endsWith(".md")).map((e) => `docs/${e.name}`),
  ];
  const unknown: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const m of readDoc(file).matchAll(/`([a-zA-Z]+(?:\[\])?(?:\.[a-zA-Z0-9]+(?:\[\])?)+)`/g)) {
      const parts = m[1].replaceAll("[]", "").split(".");
      // hub.db: the hub's database file (hub.db.restore, hub.db.replaced-...: files beside it); hub.yaml,
      // site.yaml...: configuration files, not keys.
      if (!sections.has(parts[0]) || /^hub\.db(\.|$)/.test(m[1]) || /\.(ya?ml|json)$/.test(m[1])) continue;
      checked++;
      if (!resolves(configSchema, parts) && !resolves(hubConfigSchema, parts)) {
        unknown.push(`${file}: ${m[1]}`);
      }
    }
  }
  assert.ok(checked > 100, `${checked} keys`);
  assert.deepEqual(unknown, []);
});
