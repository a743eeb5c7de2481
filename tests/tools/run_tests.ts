/**
 * `deno task test [deno test args...]`: the whole suite (or the files and filters given), with a temporary
 * folder of its own as TMPDIR that is removed at the end (suite.ts), so a run leaves nothing in /tmp.
 *
 * Test files run one more at a time than the machine has cores (`DENO_JOBS`, unless set): many of them wait
 * on timers, peers and subprocesses rather than compute. With one file per core (Deno's default) the suite's
 * test phase kept this two-core machine 67 % busy on average (sampled every 10 s; half the samples below 80
 * %) and took 21m54s (2026-12-07, after the browser tests moved to Chromium's headless shell).
 */
import { runTestsInOwnTmp } from "./suite.ts";

const jobs = Deno.env.get("DENO_JOBS") ?? String(navigator.hardwareConcurrency + 1);
Deno.exit(
  await runTestsInOwnTmp(["-A", "--permit-no-files", "--parallel", ...Deno.args], { DENO_JOBS: jobs }),
);
