/**
 * The send path's per-object budget (issue 16): runs the agent under V8's sampling profiler (`--prof`)
 * with a route to a `storescp`, sends generated CT objects into it with one `storescu` association, waits
 * until the destination holds them all, and sorts every sample of that window into a stage. Samples whose
 * stack runs through the forwarder or the SCU (agent/forward, agent/dimse/scu.ts, _raw_send.ts,
 * _propose.ts) are the send path and get send stages (file read, PDU build and copy, socket write, DIMSE
 * response handling, association open/release, queue bookkeeping); the rest are the receive path's
 * stages as in profile_receive.ts. A stage's share of the samples times the main thread's CPU time gives
 * microseconds of CPU per object.
 *
 *   deno run -A bench/profile_forward.ts [--files 1000] [--sync on|off] [--keep DIR]
 *
 * Needs `node` (for `node --prof-process --preprocess`) and DCMTK's `storescu` and `storescp`. Not part
 * of `deno task bench`: a profiled agent is slower than a plain one, so its figures are budgets.
 */
import * as path from "node:path";
import { startAgentProcess } from "../tests/support/agent.ts";
import { startStorescp } from "../tests/support/peers.ts";
import {
  classifyReceive,
  type Code,
  cpuMark,
  cpuTicks,
  frameNames,
  processTicks,
  profileSetup,
  storescuInto,
  type Tick,
  vmStage,
} from "./_profile.ts";

/** A sample is on the send path when a frame of its stack names one of these. */
const SEND_PATH =
  /agent\/forward\/|dimse\/scu\.ts|_raw_send\.ts|_propose\.ts|held_association|streamRawDataset/;
/** Send stages, leaf first, the first rule matching a frame wins. */
const SEND_STAGES: [string, RegExp][] = [
  [
    "send: file open/read/close",
    /^(__open|__open64|__close|read|pread64|__libc_pread|__pread64)@|source\.ts|openDataset|readSync|openSync/,
  ],
  ["send: GC-visible allocation", /allocUnsafe|TypedArrayConstructor|ArrayBufferConstructor/],
  ["send: PDU build and copy", /writePdataHeader|pdataPdu|memcpy|memmove|\bcopy\b/],
  [
    "send: socket write",
    /^(__send|__libc_write|write|writev|sendto)@|deno_socket|01_net\.js|#writing|drained/,
  ],
  ["send: association open/release", /_propose|_negotiate|associate|release|connect|held_association/],
  ["send: DIMSE command and response", /scu\.ts|command_codec|dcmjs-dimse|_network|cStore|#run|#single/],
  ["send: queue (claim, done)", /agent\/queue\/|libsql|markDone|claim/],
];

function classify(tick: Tick, code: Code[]): string {
  const vm = vmStage(tick);
  if (vm) return vm;
  const names = frameNames(tick, code);
  if (names.some((n) => SEND_PATH.test(n))) {
    for (const n of names) for (const [stage, rule] of SEND_STAGES) if (rule.test(n)) return stage;
    return "send: other";
  }
  return `receive: ${classifyReceive(names)}`;
}

const { files, sync, work, paths } = await profileSetup(Deno.args);
const logFile = path.join(work, `agent-forward-${sync ? "sync" : "nosync"}.v8.log`);
const dataDir = path.join(work, `data-${Date.now()}`);
const destDir = path.join(work, `dest-${Date.now()}`);
const dest = await startStorescp({ dir: destDir, aet: "DEST", bitPreserving: true });
const agent = await startAgentProcess({
  dataDir,
  config: {
    dimse: { sync },
    nodes: { dest: { aet: dest.aet, host: "127.0.0.1", port: dest.port } },
    routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
  },
  denoFlags: [`--v8-flags=--expose-gc,--prof,--no-logfile-per-isolate,--logfile=${logFile}`],
});
const { load, main: main0, all: all0, t: t0 } = await cpuMark(agent.pid);
const sent = await storescuInto(agent, paths);
const count = () => [...Deno.readDirSync(destDir)].length;
const deadline = Date.now() + 10 * 60_000;
while (count() < files && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
const wallMs = performance.now() - t0;
const mainCpu = (cpuTicks(agent.pid) - main0) * 10; // ms (USER_HZ 100)
const allCpu = (processTicks(agent.pid) - all0) * 10;
const delivered = count();
await agent.stop();
await dest.stop();
await Deno.remove(dataDir, { recursive: true }).catch(() => {});
await Deno.remove(destDir, { recursive: true }).catch(() => {});
if (sent.code !== 0) throw new Error(`storescu exit ${sent.code}: ${sent.stderr.slice(0, 400)}`);
if (delivered < files) throw new Error(`only ${delivered} of ${files} delivered`);

const pre = await new Deno.Command("node", {
  args: ["--prof-process", "--preprocess", logFile],
  stdout: "piped",
  stderr: "null",
}).output();
const text = new TextDecoder().decode(pre.stdout);
const profile = JSON.parse(text.slice(text.indexOf("{"))) as { code: Code[]; ticks: Tick[] };
// The window: from the first sample in the store path to the last one on the send path.
const on = (re: RegExp) => (t: Tick) =>
  t.s.some((c, i) => i % 2 === 0 && re.test(profile.code[c]?.name ?? ""));
const first = profile.ticks.findIndex(on(/_processPDataTf|cStoreRequest|_pdata\.ts|_store_in\.ts/));
const last = profile.ticks.findLastIndex(on(SEND_PATH));
const window = profile.ticks.slice(first, last + 1);
const counts = new Map<string, number>();
for (const t of window) {
  const stage = classify(t, profile.code);
  counts.set(stage, (counts.get(stage) ?? 0) + 1);
}
const perObject = (n: number) => ((n / window.length) * mainCpu * 1000) / files;
const rows = [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([s, n]) =>
  `| ${s} | ${n} | ${(100 * n / window.length).toFixed(1)} | ${perObject(n).toFixed(0)} |`
);
const sum = (prefix: string) =>
  [...counts.entries()].filter(([s]) => s.startsWith(prefix)).reduce((a, [, n]) => a + n, 0);
console.log(
  [
    `files ${files}, sync ${sync ? "on" : "off"}, load average ${load} at start, ${new Date().toISOString()}`,
    `storescu start -> last object at the destination ${(wallMs / 1000).toFixed(2)} s = ${
      (files / wallMs * 1000).toFixed(0)
    } files/s; agent CPU ${(allCpu * 1000 / files).toFixed(0)} µs/object (main thread ${
      (mainCpu * 1000 / files).toFixed(0)
    }, other threads ${((allCpu - mainCpu) * 1000 / files).toFixed(0)}); ${window.length} samples`,
    `send path ${perObject(sum("send:")).toFixed(0)} µs/object, receive path ${
      perObject(sum("receive:")).toFixed(0)
    }, GC ${perObject(counts.get("GC") ?? 0).toFixed(0)}, compile ${
      perObject(counts.get("compile") ?? 0).toFixed(0)
    }`,
    "",
    "| stage (main thread) | samples | % | µs CPU/object |",
    "| --- | --- | --- | --- |",
    ...rows,
  ].join("\n"),
);
