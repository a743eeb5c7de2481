/**
 * Builds the console (ui/) with Vite into ui/dist, which the hub serves at `/`. About a second.
 *
 * Builds run one at a time under a lock (`ui/.build.lock`), and a build is skipped when ui/dist already
 * holds the build of the sources as they are (their hash in `ui/.dist-sources`): the tests' processes,
 * which run in parallel, each ask for the console, and Vite empties ui/dist before it writes it again,
 * so a rebuild by one process made a page another process's hub was serving fail to load (no login
 * form, no rows) until the build was over.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const UI = path.join(ROOT, "ui");
const LOCK = path.join(UI, ".build.lock");
const STAMP = path.join(UI, ".dist-sources");
/** What the console's bundle is made of: its own sources, the shared code it imports, the locked versions. */
const SOURCES = ["ui", "shared", "deno.json", "deno.lock"];
/** Under ui/: what the build makes or holds, not what it reads. */
const NOT_SOURCES = new Set(["dist", "viewer", "node_modules", ".build.lock", ".dist-sources"]);

export interface BuildConsoleOptions {
  /** Build only if ui/dist has no console at all (whatever its sources). */
  ifMissing?: boolean;
  /** Build even if ui/dist holds the build of the sources as they are (`deno task build:ui`). */
  force?: boolean;
}

/** Runs `vite build` in ui/ when it is needed; throws with Vite's message when it fails. */
export async function buildConsole(options: BuildConsoleOptions = {}): Promise<void> {
  const lock = await Deno.open(LOCK, { create: true, write: true });
  try {
    await lock.lock(true);
    const hasConsole = await exists(path.join(UI, "dist/index.html"));
    if (options.ifMissing && hasConsole) return;
    const sources = await sourcesHash();
    if (!options.force && hasConsole && (await Deno.readTextFile(STAMP).catch(() => "")) === sources) return;
    await Deno.remove(STAMP).catch(() => {});
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "npm:vite@^8", "build"],
      cwd: UI,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`the console did not build: ${new TextDecoder().decode(out.stderr).slice(-600)}`);
    }
    await Deno.writeTextFile(STAMP, sources);
  } finally {
    lock.close(); // releases the lock
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await Deno.stat(file);
    return true;
  } catch {
    return false;
  }
}

/** SHA-256 over the console's sources (paths and contents, in a stable order). */
export async function sourcesHash(): Promise<string> {
  const files: string[] = [];
  const walk = async (rel: string, top: boolean) => {
    const full = path.join(ROOT, rel);
    const info = await Deno.stat(full).catch(() => undefined);
    if (!info) return;
    if (info.isFile) return void files.push(rel);
    for await (const e of Deno.readDir(full)) {
      if (top && rel === "ui" && NOT_SOURCES.has(e.name)) continue;
      if (e.name === "node_modules" || e.name.startsWith(".")) continue;
      await walk(path.join(rel, e.name), false);
    }
  };
  for (const s of SOURCES) await walk(s, true);
  files.sort();
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const f of files) {
    parts.push(enc.encode(`${f}\0`), await Deno.readFile(path.join(ROOT, f)), enc.encode("\0"));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (all.set(p, at), at += p.length);
  return Array.from(
    new Uint8Array(await crypto.subtle.digest("SHA-256", all)),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

if (import.meta.main) await buildConsole({ force: true });
