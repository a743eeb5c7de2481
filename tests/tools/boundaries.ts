/**
 * The dependency rule: `shared` imports neither `agent` nor `hub` (and does no I/O: no Deno I/O, no
 * `node:fs`); `agent` and `hub` never import each other; `ui` imports `shared` and only types from `hub`.
 * A member reaches another only through that member's faces (the `exports` of its deno.json:
 * `@conduit/shared/dicom`, `@conduit/hub/api`), never by a relative path or past a face; runtime code
 * never imports the test generator (`@conduit/shared/testing`). Inside the agent, `dimse` imports nothing
 * else of the agent, and `archive` and `index` import none of the steps above them; a `_`-prefixed file
 * is private to its folder. Exits 1 listing each import that breaks a rule.
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

/** The faces of each member: the keys of `exports` in its deno.json (`./dicom`, `./api`). */
function facesOf(root: string): Record<string, Set<string>> {
  const out: Record<string, Set<string>> = {};
  for (const member of Object.keys(FORBIDDEN)) {
    const file = path.join(root, member, "deno.json");
    const exports = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")).exports : undefined;
    out[member] = new Set(
      typeof exports === "string" ? ["."] : Object.keys(exports ?? {}),
    );
  }
  return out;
}

/** Files that may use test-only code: tests, and helpers named testing.ts. */
const TEST_FILE = /(_test\.tsx?|\/testing\.ts)$/;

/** Breaks of the package faces by one import of `file` (in `member`) into `into`, or undefined. */
function faceViolation(
  member: string,
  file: string,
  spec: string,
  into: string,
  faces: Record<string, Set<string>>,
): string | undefined {
  if (into === member) return undefined;
  if (spec.startsWith(".")) {
    return `${file}: ${member} reaches into ${into} by a relative path (${spec}); import one of its faces, @conduit/${into}/...`;
  }
  const face = "." + spec.slice(`@conduit/${into}`.length);
  if (!faces[into]?.has(face)) {
    const list = [...(faces[into] ?? [])].map((f) => `@conduit/${into}${f.slice(1)}`).join(", ");
    return `${file}: ${spec} is not a face of ${into} (its faces: ${list || "none"})`;
  }
  if (face === "./testing" && !TEST_FILE.test(file)) {
    return `${file}: runtime code imports the test generator (${spec}); only tests and testing.ts may`;
  }
  return undefined;
}

export function violations(root = ROOT): string[] {
  const out: string[] = [];
  const faces = facesOf(root);
  for (const [member, forbidden] of Object.entries(FORBIDDEN)) {
    const dir = path.join(root, member);
    if (!fs.existsSync(dir)) continue;
    for (const file of sourceFiles(dir)) {
      const text = fs.readFileSync(file, "utf8");
      const relative = path.relative(root, file);
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[3];
        const into = target(root, file, spec);
        const typeOnly = Boolean(m[2]);
        if (into && into in FORBIDDEN && !forbidden.includes(into)) {
          const broken = faceViolation(member, relative, spec, into, faces);
          if (broken) out.push(broken);
        }
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
        // (`Deno.removeSignalListener` is no I/O: shared/process.ts stops listening for SIGHUP.)
        /\bDeno\.(open|read|write|remove(?!SignalListener)|mkdir|serve|listen|connect|Command)/.test(text)
      ) {
        out.push(`${relative}: shared does Deno I/O`);
      }
      if (
        member === "shared" && !file.endsWith("_test.ts") &&
        /(?:from\s*|import\s*\(\s*)["'](?:node:)?fs(?:\/promises)?["']/.test(text)
      ) {
        out.push(`${relative}: shared does I/O (node:fs)`);
      }
    }
  }
  return out;
}

/**
 * Layers inside the agent: for each folder, the agent folders it may not import. The DIMSE layer is wire
 * code only (it imports nothing else of the agent); the archive and the index are storage, below the
 * steps that decide where objects go (routing, queue, forward, tunnel, serve, ingest).
 */
const AGENT_LAYERS: Record<string, string[] | "all"> = {
  dimse: "all",
  archive: ["routing", "queue", "forward", "tunnel", "serve", "ingest"],
  index: ["routing", "queue", "forward", "tunnel", "serve", "ingest"],
};

/**
 * Breaks of the layers inside the agent and of privacy: a file named `_x.ts` is private to its folder
 * (only files in that folder, and their tests, import it).
 */
export function layerViolations(root = ROOT): string[] {
  const out: string[] = [];
  for (const member of Object.keys(FORBIDDEN)) {
    const dir = path.join(root, member);
    if (!fs.existsSync(dir)) continue;
    for (const file of sourceFiles(dir)) {
      const relative = path.relative(root, file);
      const text = fs.readFileSync(file, "utf8");
      for (const m of text.matchAll(IMPORT)) {
        const spec = m[3];
        if (!spec.startsWith(".")) continue;
        const resolved = path.relative(root, path.resolve(path.dirname(file), spec));
        if (
          path.basename(resolved).startsWith("_") &&
          path.dirname(resolved) !== path.dirname(relative)
        ) {
          out.push(
            `${relative}: imports ${spec}, private to ${path.dirname(resolved)}/ (its name starts with _)`,
          );
        }
        const [fromMember, fromFolder] = relative.split(path.sep);
        const [toMember, toFolder] = resolved.split(path.sep);
        if (fromMember !== "agent" || toMember !== "agent" || fromFolder === toFolder) continue;
        const rule = AGENT_LAYERS[fromFolder];
        if (!rule || relative.endsWith("_test.ts") || relative.endsWith("testing.ts")) continue;
        if (rule === "all" || rule.includes(toFolder)) {
          out.push(`${relative}: agent/${fromFolder} may not import agent/${toFolder ?? ""} (${spec})`);
        }
      }
    }
  }
  return out;
}

if (import.meta.main) {
  const found = [...violations(), ...layerViolations()];
  if (found.length) {
    console.error(`boundaries: ${found.length} import(s) cross a boundary:\n  ${found.join("\n  ")}`);
    Deno.exit(1);
  }
  console.log("boundaries: ok");
}
