/**
 * docs/api.md's procedure table against the tRPC router: every procedure's input, as the table writes it
 * (`{ site, node?, filters?: {...} }`), names the same keys as the procedure's input schema, optional where the
 * schema makes them optional, nested objects included. (tests/console/roles_test.ts checks the role column.)
 */
import assert from "node:assert/strict";
import { z } from "zod";
import { appRouter } from "../../hub/api/router.ts";
import { readDoc, section, tables } from "../support/markdown.ts";

/** A schema without its optional, nullable, default and effects wrappers, and whether they made it optional. */
function unwrap(s: z.ZodTypeAny): { inner: z.ZodTypeAny; optional: boolean } {
  let optional = false;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodDefault) {
      optional = true;
      s = s._def.innerType;
    } else if (s instanceof z.ZodNullable) s = s._def.innerType;
    else if (s instanceof z.ZodEffects) s = s._def.schema;
    else if (s instanceof z.ZodUnion) {
      // `{ ... } | null` and the like: the object member is what the document describes.
      const objects = (s._def.options as z.ZodTypeAny[]).map((o) => unwrap(o).inner).filter((o) =>
        o instanceof z.ZodObject
      );
      if (objects.length !== 1) return { inner: s, optional };
      s = objects[0];
    } else return { inner: s, optional };
  }
}

/** The keys of an object, as the document writes them: `name` or `name?`, with nested objects. */
interface Shape {
  [key: string]: Shape | true;
}

function schemaShape(obj: z.ZodObject<z.ZodRawShape>): Shape {
  const out: Shape = {};
  for (const [k, v] of Object.entries(obj.shape)) {
    const { inner, optional } = unwrap(v);
    out[k + (optional ? "?" : "")] = inner instanceof z.ZodObject
      ? schemaShape(inner)
      : inner instanceof z.ZodRecord
      ? { "*": true }
      : true;
  }
  return out;
}

/** Reads `{ a, b?, c: { d }, e?: "x" | "y" }` into a Shape; values other than objects are `true`. */
function docShape(text: string): Shape {
  let at = 0;
  const parseObject = (): Shape => {
    assert.equal(text[at], "{", `expected { at ${at} of ${text}`);
    at++;
    const out: Shape = {};
    const pieces: string[] = [];
    let depth = 0;
    let piece = "";
    let nested: Shape | undefined;
    let key: string | undefined;
    const end = () => {
      const m = /^\s*([A-Za-z0-9]+\??)/.exec(piece);
      if (m) out[key ?? m[1]] = nested ?? true;
      pieces.push(piece);
      piece = "";
      nested = undefined;
      key = undefined;
    };
    while (at < text.length) {
      const c = text[at];
      if (c === "{" && depth === 0) {
        // A nested object is the value of the key written before it.
        key = /^\s*([A-Za-z0-9]+\??)/.exec(piece)?.[1];
        nested = parseObject();
        // `{ Keyword: value }`: a map, its key a placeholder.
        const keys = Object.keys(nested);
        if (keys.length === 1 && /^[A-Z]/.test(keys[0])) nested = { "*": true };
        continue;
      }
      if (c === "[" || c === "(") depth++;
      if (c === "]" || c === ")") depth--;
      if (c === "," && depth === 0) {
        end();
        at++;
        continue;
      }
      if (c === "}" && depth === 0) {
        if (piece.trim() || nested) end();
        at++;
        return out;
      }
      piece += c;
      at++;
    }
    throw new Error(`unclosed { in ${text}`);
  };
  return parseObject();
}

Deno.test("docs/api.md: every procedure's input names the keys of its input schema, optional where it is", () => {
  const doc = readDoc("docs/api.md");
  const [table] = tables(section(doc, "## Procedures"));
  const procedures = appRouter({} as never)._def.procedures as unknown as Record<
    string,
    { _def: { inputs: z.ZodTypeAny[] } }
  >;
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const row of table) {
    const names = [...row.procedure.matchAll(/`([a-zA-Z.]+)`/g)].map((m) => m[1]);
    // `a` / `b` with `{ x }` / `{ y }`: one input each, in order; a single input for both otherwise.
    const inputs = row.input.split(/\s+\/\s+(?=`|—)/);
    for (const [i, name] of names.entries()) {
      seen.add(name);
      const cell = (inputs.length === names.length ? inputs[i] : inputs[0]).trim();
      const schema = procedures[name]?._def.inputs[0];
      if (!procedures[name]) {
        problems.push(`${name}: documented, not in the router`);
        continue;
      }
      if (cell.startsWith("—")) {
        if (schema) {
          problems.push(
            `${name}: documented without input, but takes ${
              Object.keys(schemaShape(unwrap(schema).inner as never))
            }`,
          );
        }
        continue;
      }
      const code = /^`(\{.*?\})`/.exec(cell)?.[1] ?? /`(\{.*\})`/.exec(cell)?.[1];
      if (!code) {
        problems.push(`${name}: input "${cell}" is not written as \`{ ... }\``);
        continue;
      }
      const inner = schema && unwrap(schema).inner;
      if (!(inner instanceof z.ZodObject)) {
        problems.push(`${name}: documented with input ${code}, but takes none`);
        continue;
      }
      const want = schemaShape(inner);
      const got = docShape(code);
      try {
        assert.deepEqual(got, want);
      } catch {
        problems.push(`${name}: documented ${JSON.stringify(got)}, the schema ${JSON.stringify(want)}`);
      }
    }
  }
  for (const name of Object.keys(procedures)) if (!seen.has(name)) problems.push(`${name}: not documented`);
  assert.deepEqual(problems, []);
});
