/**
 * The forward benchmark (issue 3): how fast objects go through the agent to a destination while it is
 * still receiving them, against sending them straight to that destination, in the same run on the same
 * files.
 *
 * - Direct: one `storescu` invocation (one association) into DCMTK `storescp`; the wall time of the
 *   `storescu` run gives files/s.
 * - Through the agent: the same `storescu` run into an agent whose one route sends everything to a
 *   `storescp` (`nodes: { dest }`, `routes: [{ name: all, match: {}, to: [{ node: dest }] }]`, defaults
 *   otherwise). The time runs from the `storescu` start to the last object delivered (the latest `doneAt`
 *   of the queue rows, once `GET /queue/summary` counts them all done); files/s end to end and the ratio
 *   to direct. Also `storescu`'s own duration (the ingest side) and, per object, the time from Success to
 *   delivery (`doneAt − createdAt` of each row of `GET /queue?state=done`): p50 and p99. Run as shipped
 *   (fsync on) and with `dimse.sync: false` for reference.
 * - The agent's own durable ingest: the same `storescu` run into an agent as shipped without a route;
 *   issue 16's target is the end-to-end rate through the agent at 0.8 of it.
 *
 * Three rounds (direct, the agent's own ingest, agent, agent without fsync, interleaved), each on fresh directories and freshly
 * started processes, after `sync`; medians. Each agent first receives (and forwards) 300 other objects,
 * untimed: a started agent runs its first few hundred objects slower while V8 compiles it (bench/README.md).
 * `--quick`: one round of 100 objects.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult, BenchTarget } from "./main.ts";
import { skipReason } from "../tests/support/peers.ts";
import { fixed, generateCtSeries, generateWarmUpSeries, MB, memory } from "./_shared.ts";
import {
  type PathName,
  runAgentIngest,
  runDirect,
  type RunResult,
  runThroughAgent,
  type Variant,
} from "./_forward_runs.ts";
import {
  ingestRatioTarget,
  latencyTable,
  ratioTarget,
  summarize,
  throughputTable,
} from "./_forward_report.ts";

const FULL = { files: 500, rounds: 3, warmup: 300 };
const QUICK = { files: 100, rounds: 1, warmup: 50 };

/** A run with more busy CPU than this (% of one core) outside the measured processes gets a note. */
const OTHER_CPU_WARNING = 40;

const VARIANTS: Variant[] = [
  {
    name: "agent",
    setup: "storescu → agent → storescp; agent as shipped (fsync of file, directory and index before " +
      "Success; queue.concurrency 2, batchSize 100)",
    config: {},
  },
  {
    name: "agent-nosync",
    setup: "the same with dimse.sync: false (no fsync, like storescp; index and queue still committed)",
    config: { dimse: { sync: false } },
  },
];

// ---------------------------------------------------------------------------------------------------

async function run(opts: BenchOptions): Promise<BenchResult> {
  const { log, workDir } = opts;
  const plan = opts.quick ? QUICK : FULL;
  const missing = skipReason("storescu", "storescp");
  if (missing) throw new Error(`forward ${missing}`);
  const notes: string[] = [];
  if (opts.quick) notes.push("quick mode: one round of 100 objects; figures are indicative only");
  notes.push(
    `each agent got ${plan.warmup} other objects (and forwarded them) before its measured run, untimed (a ` +
      `started agent's JIT warm-up; bench/README.md)`,
  );

  const series = await generateCtSeries(path.join(workDir, "series"), plan.files, log);
  // Sent through each agent first, untimed: other UIDs, so every measured object is new to it.
  const warmup = await generateWarmUpSeries(path.join(workDir, "warm-up"), plan.warmup);
  const names: PathName[] = ["direct", ...VARIANTS.map((v) => v.name)];
  const runs = new Map<PathName, RunResult[]>(names.map((n) => [n, []]));
  const ingest: { filesPerSecond: number; problem?: string }[] = [];
  for (let round = 1; round <= plan.rounds; round++) {
    runs.get("direct")!.push(
      await runDirect(path.join(workDir, `direct-${round}`), series.paths, series.bytes, round, log),
    );
    ingest.push(
      await runAgentIngest(path.join(workDir, `ingest-${round}`), series.paths, round, log, warmup),
    );
    for (const variant of VARIANTS) {
      const dir = path.join(workDir, `${variant.name}-${round}`);
      runs.get(variant.name)!.push(
        await runThroughAgent(variant, dir, series.paths, series.bytes, round, log, warmup),
      );
    }
  }
  await Deno.remove(path.join(workDir, "series"), { recursive: true });
  await Deno.remove(path.join(workDir, "warm-up"), { recursive: true });

  const summaries = names.map((n) => summarize(n, runs.get(n)!));
  const byName = (n: PathName) => summaries.find((s) => s.path === n);
  const direct = byName("direct");
  const agent = byName("agent");
  ingest.forEach((r, i) => r.problem && notes.push(`agent-ingest round ${i + 1}: ${r.problem}`));
  for (const r of [...runs.values()].flat()) {
    if (r.problem) notes.push(`${r.path} round ${r.round}: ${r.problem}`);
    if (r.otherCpuPercent > OTHER_CPU_WARNING) {
      notes.push(
        `${r.path} round ${r.round}: ${fixed(r.otherCpuPercent)} % of a core busy outside the measured ` +
          "processes (other load on the machine?)",
      );
    }
  }
  notes.push(
    "direct: DCMTK storescp --bit-preserving (no fsync, default max PDU 16384), fresh directory",
    ...VARIANTS.map((v) => `${v.name}: ${v.setup}; destination storescp as for direct`),
    "time through the agent = storescu start → latest doneAt of the queue rows (the agent's clock); " +
      "Success → delivery = doneAt − createdAt per row (createdAt is written in the index transaction, " +
      "just before Success); storescu s = the ingest side alone",
    `CPU % is of one core (${navigator.hardwareConcurrency} cores); agent CPU ingest / drain = while ` +
      "storescu ran / after it, until the last delivery; connections to dest = associations the " +
      "destination storescp received (TCP connections from /proc/net/tcp, TIME_WAIT included)",
  );

  const targets: BenchTarget[] = [
    ratioTarget(agent, direct, false),
    ratioTarget(byName("agent-nosync"), direct, true),
    ingestRatioTarget(agent, ingest.filter((r) => !r.problem)),
    {
      label: "Success → delivery, as shipped (no target)",
      measured: agent ? `p50 ${fixed(agent.latencyP50)} ms, p99 ${fixed(agent.latencyP99)} ms` : "?",
      pass: undefined,
    },
  ];
  const roundsText = `median of ${plan.rounds} run${plan.rounds > 1 ? "s" : ""}`;
  return {
    tables: [
      throughputTable(
        `${series.files} CT objects of ${(series.bytes / series.files / MB).toFixed(3)} MB, ` +
          `one storescu association, ${roundsText}`,
        summaries,
        direct,
      ),
      latencyTable(`Success → delivery per object (doneAt − createdAt), ${roundsText}`, summaries),
    ],
    targets,
    notes,
    data: {
      plan,
      series: { files: series.files, bytes: series.bytes },
      summaries: summaries.map(({ runs: _runs, ...s }) => s),
      ratios: Object.fromEntries(
        VARIANTS.map((v) => [
          v.name,
          direct && byName(v.name) ? byName(v.name)!.filesPerSecond / direct.filesPerSecond : undefined,
        ]),
      ),
      runs: [...runs.values()].flat(),
      agentIngest: ingest,
      benchProcess: { peakRss: memory("self").peakRss },
    },
  };
}

/** The forward benchmark: storescu → agent → storescp against storescu → storescp. */
export const forward: Benchmark = {
  name: "forward",
  description: "files/s storescu → agent → storescp vs straight to storescp, Success → delivery p50/p99",
  run,
};
