/**
 * One plain (unprofiled) receive run for A/B comparisons of two checkouts: starts the agent of the tree
 * this file is in, sends generated CT objects with one `storescu` association, and prints the wall time
 * and the agent's CPU time (utime + stime of the whole process, from /proc) per object. Run it from two
 * worktrees in turn, interleaved, under the bench lock, e.g.:
 *
 *   for r in 1 2 3; do for t in /tmp/base /work/wt/mine; do
 *     (cd $t && deno run -A bench/ab_receive.ts --files 500 --sync off --label $t); done; done
 *
 * Not part of `deno task bench`: it measures one receiver, not a target.
 */
import * as path from "node:path";
import { parseArgs } from "node:util";
import { generateCtSeries } from "./_shared.ts";
import { runDcmtk } from "../tests/support/peers.ts";
import { startAgentProcess } from "../tests/support/agent.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    files: { type: "string", default: "500" },
    sync: { type: "string", default: "on" },
    label: { type: "string", default: "agent" },
    series: { type: "string", default: "/tmp/conduit-ab" },
  },
});
const files = Number(args.values.files);
const sync = args.values.sync !== "off";
const seriesDir = path.join(args.values.series!, `series-${files}`);
let paths: string[] = [];
try {
  paths = [...Deno.readDirSync(seriesDir)].map((e) => path.join(seriesDir, e.name)).sort();
} catch { /* generated below */ }
if (paths.length !== files) paths = (await generateCtSeries(seriesDir, files, console.error)).paths;

const ticks = (pid: number) => {
  const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]);
};
const agent = await startAgentProcess({ config: { dimse: { sync } } });
const c0 = ticks(agent.pid);
const t0 = performance.now();
const sent = await runDcmtk(
  "storescu",
  ["-aet", "AB", "-aec", agent.aet, "127.0.0.1", String(agent.port), ...paths],
  { timeoutMs: 10 * 60_000 },
);
const wall = performance.now() - t0;
const cpu = (ticks(agent.pid) - c0) * 10; // ms (USER_HZ 100)
await agent.stop();
if (sent.code !== 0) throw new Error(`storescu exit ${sent.code}: ${sent.stderr.slice(0, 300)}`);
const load = Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
console.log(
  `${args.values.label}: ${files} files, sync ${sync ? "on" : "off"}: wall ${
    (wall * 1000 / files).toFixed(0)
  } µs/object, agent CPU ${(cpu * 1000 / files).toFixed(0)} µs/object, load ${load}`,
);
