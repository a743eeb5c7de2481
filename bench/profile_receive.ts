/**
 * The receive path's per-object budget (issue 16): runs the agent under V8's sampling profiler
 * (`--prof`), sends generated CT objects with one `storescu` association, and sorts every sample of the
 * transfer into a stage by its stack (PDU parse, copy, hash, file write, sync, index, queue, response, GC,
 * ...). Each stage's share of the main thread's samples times the main thread's CPU time gives
 * microseconds of CPU per object; the wall time per object is printed beside it.
 *
 *   deno run -A bench/profile_receive.ts [--files 1000] [--sync on|off] [--keep DIR]
 *
 * Needs `node` (for `node --prof-process --preprocess`) and DCMTK's `storescu`. Not part of
 * `deno task bench`: a profiled agent is slower than a plain one, so its figures are budgets, not rates.
 */
import * as path from "node:path";
import { startAgentProcess } from "../tests/support/agent.ts";
import {
  classify,
  type Code,
  cpuMark,
  cpuTicks,
  OTHER,
  processTicks,
  profileSetup,
  STAGES,
  storescuInto,
  type Tick,
} from "./_profile.ts";

const { files, sync, work, paths } = await profileSetup(Deno.args);
const logFile = path.join(work, `agent-${sync ? "sync" : "nosync"}.v8.log`);
const dataDir = path.join(work, `data-${Date.now()}`);
const agent = await startAgentProcess({
  dataDir,
  config: { dimse: { sync } },
  denoFlags: [`--v8-flags=--expose-gc,--prof,--no-logfile-per-isolate,--logfile=${logFile}`],
});
const { load, main: main0, all: all0, t: t0 } = await cpuMark(agent.pid);
const sent = await storescuInto(agent, paths);
const wallMs = performance.now() - t0;
const mainCpu = (cpuTicks(agent.pid) - main0) * 10; // ms (USER_HZ 100)
const allCpu = (processTicks(agent.pid) - all0) * 10;
await agent.stop();
await Deno.remove(dataDir, { recursive: true }).catch(() => {});
if (sent.code !== 0) throw new Error(`storescu exit ${sent.code}: ${sent.stderr.slice(0, 400)}`);

const pre = await new Deno.Command("node", {
  args: ["--prof-process", "--preprocess", logFile],
  stdout: "piped",
  stderr: "null",
})
  .output();
const text = new TextDecoder().decode(pre.stdout);
const profile = JSON.parse(text.slice(text.indexOf("{"))) as { code: Code[]; ticks: Tick[] };
// The transfer's samples: from the first to the last one in the store path (start-up and stop excluded).
const inStore = (t: Tick) =>
  t.s.some((c, i) =>
    i % 2 === 0 && /_processPDataTf|cStoreRequest|_pdata\.ts|_store_in\.ts/.test(profile.code[c]?.name ?? "")
  );
const first = profile.ticks.findIndex(inStore);
const last = profile.ticks.findLastIndex(inStore);
const window = profile.ticks.slice(first, last + 1);
const counts = new Map<string, number>();
for (const t of window) {
  const stage = classify(t, profile.code);
  counts.set(stage, (counts.get(stage) ?? 0) + 1);
}
const perObject = (share: number) => (share * mainCpu * 1000) / files;
const rows = [...STAGES.map(([s]) => s), "GC", "compile", OTHER].map((s) => {
  const n = counts.get(s) ?? 0;
  return `| ${s} | ${n} | ${(100 * n / window.length).toFixed(1)} | ${
    perObject(n / window.length).toFixed(0)
  } |`;
});
console.log(
  [
    `files ${files}, sync ${sync ? "on" : "off"}, load average ${load} at start, ${new Date().toISOString()}`,
    `wall ${(wallMs / 1000).toFixed(2)} s = ${(files / wallMs * 1000).toFixed(0)} files/s = ${
      (wallMs * 1000 / files).toFixed(0)
    } µs/object; agent CPU ${(allCpu * 1000 / files).toFixed(0)} µs/object (main thread ${
      (mainCpu * 1000 / files).toFixed(0)
    }, other threads ${((allCpu - mainCpu) * 1000 / files).toFixed(0)}); ${window.length} samples`,
    "",
    "| stage (main thread) | samples | % | µs CPU/object |",
    "| --- | --- | --- | --- |",
    ...rows,
  ].join("\n"),
);
