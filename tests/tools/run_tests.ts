/**
 * `deno task test [deno test args...]`: the whole suite (or the files and filters given), with a temporary
 * folder of its own as TMPDIR that is removed at the end (suite.ts), so a run leaves nothing in /tmp.
 *
 * With no arguments the suite's test files run grouped into shard modules, several files to a test worker
 * (shards.ts: each worker costs about 0.3-0.4 s of CPU before its first test); with arguments Deno runs the
 * files and filters as given.
 *
 * Test modules run one more at a time than the machine has cores (`DENO_JOBS`, unless set): many of them wait
 * on timers, peers and subprocesses rather than compute. With one file per core (Deno's default) the suite's
 * test phase kept this two-core machine 67 % busy on average (sampled every 10 s; half the samples below 80
 * %) and took 21m54s (2026-12-07, after the browser tests moved to Chromium's headless shell).
 */
import { join } from "node:path";
import { apart, findTestFiles, planShards, REPO_ROOT, writeShards } from "./shards.ts";
import { runTestsInOwnTmp } from "./suite.ts";

const jobs = Deno.env.get("DENO_JOBS") ?? String(navigator.hardwareConcurrency + 1);
let targets = [...Deno.args];
let shardDir: string | undefined;
if (targets.length === 0) {
  shardDir = join(REPO_ROOT, "tests", ".out", "shards", `${Date.now()}-${Deno.pid}`);
  const files = await findTestFiles(REPO_ROOT);
  const { shards, asIs } = planShards(files, await apart(REPO_ROOT, files));
  targets = [...await writeShards(REPO_ROOT, shardDir, shards), ...asIs.map((f) => join(REPO_ROOT, f))];
  console.log(`${files.length} test files in ${targets.length} test modules (tests/tools/shards.ts)`);
}
const code = await runTestsInOwnTmp(["-A", "--permit-no-files", "--parallel", ...targets], {
  DENO_JOBS: jobs,
});
if (shardDir) await Deno.remove(shardDir, { recursive: true }).catch(() => {});
Deno.exit(code);
