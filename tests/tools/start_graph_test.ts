/**
 * What an agent loads at start, from its static imports (`deno info --json agent/app.ts`, dynamic
 * imports left out): never the DICOM library, the PS3.15 profile table, the C-GET planner, Storage
 * Commitment, rendering, transcoding or drizzle's query code, which load on first use (issue 16: an idle agent at most 80 MB).
 * One static import of any of them costs every idle agent its memory (the DICOM library alone: 13 MB),
 * and no other test would notice.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface Info {
  roots: string[];
  modules: { specifier: string; dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[] }[];
}

/**
 * Every module `entry` imports statically, transitively; with `dynamic`, also through `import()`s written
 * with a literal specifier, which Deno loads (as a module graph, not run) with the module that holds them.
 */
async function closure(entry: string, dynamic = false): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as Info;
  const modules = new Map(info.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const stack = [...info.roots];
  while (stack.length) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const dep of modules.get(s)?.dependencies ?? []) {
      if ((dynamic || !dep.isDynamic) && dep.code?.specifier) stack.push(dep.code.specifier);
    }
  }
  return seen;
}

Deno.test("an agent's start loads none of what it loads on first use", async () => {
  const loaded = [...await closure("agent/app.ts")];
  assert.ok(loaded.length > 50, `the graph was read (${loaded.length} modules)`);
  const heavy = [
    /^npm:\/?dcmjs/, // dcmjs, dcmjs-dimse, dcmjs-codecs: on the first association or transcode
    /\/agent\/deid\/profile\.ts$/, // the PS3.15 table
    /\/shared\/deid\/profile_file\.ts$/,
    /\/agent\/nodes\/get_plan\.ts$/,
    /\/agent\/commitment\/commitment\.ts$/,
    /\/agent\/forward\/commitment_requests\.ts$/, // only where a node asks for Storage Commitment
    /\/agent\/dimse\/scu\.ts$/,
    /\/agent\/render\//,
    /\/agent\/transcode\/codec\.ts$/,
    /\/agent\/query\/find\.ts$/,
    // drizzle's query code (some 100 modules, 3 MB idle): with the first index read that builds `sql`
    // (C-FIND, C-MOVE/C-GET, WADO, node retrieve or store). Its migration-file reader alone stays.
    /^npm:\/?drizzle-orm@[^/]+(?!\/migrator$)(\/.*)?$/,
    /\/agent\/query\/matching\.ts$/,
    /\/agent\/index\/files\.ts$/,
  ];
  for (const pattern of heavy) {
    assert.deepEqual(loaded.filter((s) => pattern.test(s)), [], `loaded at start: ${pattern}`);
  }
});

Deno.test("an agent's start names what it loads on first use by no literal import()", async () => {
  // Deno loads the graph of every literal import() with the module holding it, taken or not: an idle agent
  // from source held the graph of all it might ever load, the DICOM library's included (about 2 MB of RSS;
  // bench/README.md, 2026-12-05). Lazy parts go through loadPart (agent/lazy_part.ts).
  const graph = [...await closure("agent/run.ts", true)];
  assert.ok(graph.some((s) => s.endsWith("/agent/app.ts")), "the graph was read");
  const parts = [
    /^npm:\/?dcmjs/,
    /\/agent\/dimse\/scp\.ts$/,
    /\/agent\/dimse\/scu\.ts$/,
    /\/agent\/serve\//,
    /\/agent\/tunnel\/(start|client)\.ts$/,
    /\/agent\/render\//,
    /\/agent\/deid\/(profile|engine)\.ts$/,
    /\/agent\/query\/find\.ts$/,
  ];
  for (const pattern of parts) {
    assert.deepEqual(graph.filter((s) => pattern.test(s)), [], `in the start graph: ${pattern}`);
  }
});
