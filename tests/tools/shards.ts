/**
 * The whole suite in fewer test workers. `deno task test` with no arguments groups the repository's test
 * files into shard modules, `tests/.out/shards/<run>/NNN_<folder>.shard.ts`, each importing several test
 * files of one folder (not named as tests, so that a plain `deno test` does not find them), and runs the
 * shards instead of the files. Deno starts a worker per test module, and each costs about 0.3-0.4 s of CPU
 * before its first test (its runtime's set-up, including an 80 MB array in Deno's benchmark code, and its
 * own copy of every module it imports): the 118 test files of agent/ and shared/ took 74 s of CPU as
 * separate workers, 25 s as one module. A failure still names its file and line (`name =>
 * ./agent/x_test.ts:12:6`). `deno task test FILE...` runs the files as given.
 *
 * Shards hold at most PER_SHARD files (PER_SHARD_TESTS under tests/, whose files start peers and take
 * longer). Deno runs its modules in the order of their paths: the integration shards come first, the
 * largest first, so that no long one starts last. Some files get a worker of their own (apart()):
 * - ALONE: they need a module graph of their own;
 * - those that open a PostgreSQL hub database in their process (a process opens hub databases of one
 *   dialect only, hub/db/schema.ts: with a file that opens SQLite ones in the same worker, whichever
 *   opened second would fail): each is a shard of one;
 * - OWN_OPTIONS: they are type-checked with the compiler options of their package, a shard with those of
 *   the package it lies in: they run as they are.
 */
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Test files whose tests depend on a module not yet being loaded in their worker. */
export const ALONE = new Set<string>([
  "agent/lazy_part_test.ts", // startScp() with a failed first load of the association code
]);

/** Packages whose deno.json has compiler options of their own (ui: the DOM's types, Solid's JSX). */
export const OWN_OPTIONS = ["ui/"];

/** How a test file starts a PostgreSQL of its own (tests/support/postgres.ts). */
const OPENS_POSTGRES = /\b(startPostgres|postgresTest|clusterTest)\b/;

const PER_SHARD = 12;
const PER_SHARD_TESTS = 5;

/** Folders Deno's test discovery skips here (deno.json's exclude, build outputs, packages). */
const SKIP = new Set(["node_modules", ".git", "dist", ".out", ".demo", "data", "coverage"]);
const SKIP_PATHS = new Set(["ui/viewer"]);

/** As Deno names test modules: `*_test`, `*.test` or `test`, with a script extension. */
const TEST_FILE = /(^|[._])test\.(ts|tsx|mts|js|jsx|mjs)$/;

/** A shard module to write: its file name and the test files it imports. */
export type Shard = { name: string; files: string[] };

/** The files that need a worker of their own: in a shard of one (`alone`), or run as they are (`asIs`). */
export type Apart = { alone: Set<string>; asIs: Set<string> };

/** Every test file under `root`, as sorted paths relative to it with forward slashes. */
export async function findTestFiles(root: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const rel = relative(root, path).split(sep).join("/");
      if (entry.isDirectory) {
        if (!SKIP.has(entry.name) && !SKIP_PATHS.has(rel)) await walk(path);
      } else if (entry.isFile && TEST_FILE.test(entry.name)) {
        found.push(rel);
      }
    }
  };
  await walk(root);
  return found.sort();
}

/** Which of `files` (under `root`) need a worker of their own, and how (above). */
export async function apart(root: string, files: string[]): Promise<Apart> {
  const alone = new Set<string>();
  const asIs = new Set<string>();
  for (const file of files) {
    if (OWN_OPTIONS.some((p) => file.startsWith(p))) asIs.add(file);
    else if (ALONE.has(file) || OPENS_POSTGRES.test(await Deno.readTextFile(join(root, file)))) {
      alone.add(file);
    }
  }
  return { alone, asIs };
}

/**
 * Groups test files by folder (unit tests by package) into shards, integration folders (tests/) first,
 * larger groups first; the files run as they are are left out, in `asIs`.
 */
export function planShards(files: string[], { alone, asIs }: Apart): { shards: Shard[]; asIs: string[] } {
  const byFolder = new Map<string, string[]>();
  const groups: { folder: string; files: string[]; heavy: boolean }[] = [];
  for (const file of files) {
    if (asIs.has(file)) continue;
    // Integration tests by their folder (tests/tunnel), unit tests by their package (agent, hub, shared).
    const folder = file.startsWith("tests/") ? dirname(file) : file.split("/")[0];
    if (alone.has(file)) groups.push({ folder, files: [file], heavy: folder.startsWith("tests/") });
    else byFolder.set(folder, [...(byFolder.get(folder) ?? []), file]);
  }
  for (const [folder, list] of byFolder) {
    const heavy = folder.startsWith("tests/");
    const count = Math.ceil(list.length / (heavy ? PER_SHARD_TESTS : PER_SHARD));
    // Neighbouring files together (they share more imports), the folder's files spread evenly over its
    // shards (7 files, 5 per shard: 4 and 3, not 5 and 2).
    const cut = (i: number) => Math.round((i * list.length) / count);
    for (let i = 0; i < count; i++) groups.push({ folder, files: list.slice(cut(i), cut(i + 1)), heavy });
  }
  groups.sort((a, b) => Number(b.heavy) - Number(a.heavy) || b.files.length - a.files.length);
  const shards = groups.map((g, i) => ({
    name: `${String(i).padStart(3, "0")}_${g.folder.replaceAll(/[^A-Za-z0-9]+/g, "_")}.shard.ts`,
    files: g.files,
  }));
  return { shards, asIs: files.filter((f) => asIs.has(f)) };
}

/** Writes the shards' modules into `dir` (made if missing) and returns their paths. */
export async function writeShards(root: string, dir: string, shards: Shard[]): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const shard of shards) {
    const path = join(dir, shard.name);
    const lines = shard.files.map((f) => {
      const spec = relative(dir, join(root, f)).split(sep).join("/");
      return `import "${spec.startsWith(".") ? spec : `./${spec}`}";`;
    });
    await Deno.writeTextFile(
      path,
      `// Generated by tests/tools/shards.ts for one run of the suite.\n${lines.join("\n")}\n`,
    );
    paths.push(path);
  }
  return paths;
}

/** The repository's root (this file is tests/tools/shards.ts). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
