/**
 * The dependency rule: `shared` imports neither `agent` nor `hub` (and does no Deno I/O);
 * `agent` and `hub` never import each other; `ui` imports `shared` and only types from `hub`.
 * Exits 1 listing each import that breaks it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const FORBIDDEN: Record<string, string[]> = {
  shared: ["agent", "hub", "ui"],
  agent: ["hub", "ui"],
  hub: ["agent"],
  ui: ["agent"],
};

const IMPORT =
  /(?:^|\s)(import\s+(type\s+)?[^'"]*?from\s*|import\s*\(\s*|export\s+[^'"]*?from\s*)["']([^"']+)["']/g;

function* sourceFiles(dir: string): Generator<string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name === "dist" || entry.name.startsWith(".")) continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(p);
    else if (/\.(ts|tsx)$/.test(entry.name)) yield p;
  }
}

/** The top-level member an import points into, if any. */
function target(root: string, file: string, spec: string): string | undefined {
  const m = /^@conduit\/([a-z]+)/.exec(spec);
  if (m) return m[1];
  if (spec.startsWith(".")) {
    const resolved = path.relative(root, path.resolve(path.dirname(file), spec));
    return resolved.split(path.sep)[0];
  }
  return undefined;
}

export function violations(root = ROOT): string[] {
  const out: string[] = [];
  for (const [member, forbidden] of Object.entries(FORBIDDEN)) {
    const dir = path.join(root, member);
    if (!fs.existsSync(dir)) continue;
    for (const file of sourceFiles(dir)) {
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[3];
        const into = target(root, file, spec);
        const typeOnly = Boolean(m[2]);
        if (member === "ui" && into === "hub" && typeOnly) continue;
        if (member === "ui" && into === "hub") {
          out.push(
            `${path.relative(root, file)}: ui imports hub code (only \`import type\` is allowed): ${spec}`,
          );
          continue;
        }
        if (into && forbidden.includes(into)) {
          out.push(`${path.relative(root, file)}: ${member} imports ${into}: ${spec}`);
        }
      }
      if (
        member === "shared" && !file.endsWith("_test.ts") &&
        /\bDeno\.(open|read|write|remove|mkdir|serve|listen|connect|Command)/.test(text)
      ) {
        out.push(`${path.relative(root, file)}: shared does Deno I/O`);
      }
    }
  }
  return out;
}

if (import.meta.main) {
  const found = violations();
  if (found.length) {
    console.error(`boundaries: ${found.length} import(s) cross a boundary:\n  ${found.join("\n  ")}`);
    Deno.exit(1);
  }
  console.log("boundaries: ok");
}
