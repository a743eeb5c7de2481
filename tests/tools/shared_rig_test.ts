/**
 * Every test file that sets up a shared rig (tests/support/shared_rig.ts) stops it with `tearDown`: a rig
 * left running holds an in-process hub's libsql client open until the test process ends, and libsql's
 * threads then crash the process at exit (SIGSEGV, 2026-12-04), which takes the whole suite's summary
 * with it.
 */
import assert from "node:assert/strict";
import * as path from "node:path";

const TESTS = path.join(import.meta.dirname!, "..");

async function* testFiles(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = path.join(dir, e.name);
    if (e.isDirectory) yield* testFiles(p);
    else if (e.name.endsWith("_test.ts")) yield p;
  }
}

Deno.test("every test file with a shared rig stops it with tearDown", async () => {
  const missing: string[] = [];
  let rigs = 0;
  for await (const file of testFiles(TESTS)) {
    const text = await Deno.readTextFile(file);
    if (!/\bsharedRig\s*</.test(text) && !/\bsharedRig\(/.test(text)) continue;
    rigs++;
    if (!/\.tearDown\(/.test(text)) missing.push(path.relative(TESTS, file));
  }
  assert.ok(rigs > 5, `found ${rigs} files with a shared rig`);
  assert.deepEqual(missing, [], "files whose shared rig is never stopped");
});
