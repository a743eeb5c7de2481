/**
 * The memory benchmark (issue 16, point 5): the agent's RSS idle, and its peak RSS receiving one large
 * object over DIMSE, quicker than `deno task bench ingest` (which measures the same along with rates).
 *
 * Idle: fresh agents, default configuration, an empty data directory, RSS read every 250 ms from /proc
 * once the HTTP API answers, until it has moved less than 1 MB over 3 s (at most 20 s): that settled RSS,
 * median of three agents. Two ways of running it: from source as `deno task agent` does (`deno run`
 * with the repository's lockfile and the task's flags), and as `deno task build` makes it where
 * `deno compile` cannot get its runtime, as here: the split bundle started by its launcher
 * (deploy/bundle.ts), what a site installs then. Each has its target line (the systemd unit and the
 * container run from source). Before the lockfile was used and the RSS left to settle,
 * the ingest benchmark read it once, right after `/healthz` answered, of an agent run with `--no-lock`.
 *
 * Large object: one object of 800 MB (`--quick`: 200 MB) sent by `storescu` to another fresh agent; its
 * peak RSS (VmHWM: the process's whole life, start-up and the idle time before included) and, for
 * the record, how RSS moved during the transfer (sampled every 100 ms).
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { generateInSubprocess, loadAverage, startAgentReceiver } from "./_ingest_receivers.ts";
import { runDcmtk, skipReason } from "../tests/support/peers.ts";
import { fixed, MB, median, memory } from "./_shared.ts";
import { bundleAgent } from "../deploy/bundle.ts";
import { answersOk, freePorts, spawnLogged, waitReady } from "../tests/support/processes.ts";

const TARGET_IDLE_MB = 80;
const TARGET_PEAK_MB = 128;
const IDLE_RUNS = 3;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** RSS of `pid` once it has moved less than 1 MB over 3 s (sampled every 250 ms, at most 20 s). */
export async function settledRss(pid: number): Promise<{ rss: number; afterMs: number; first: number }> {
  const samples: number[] = [];
  const first = memory(pid).rss;
  const t0 = performance.now();
  for (;;) {
    await sleep(250);
    samples.push(memory(pid).rss);
    const last = samples.slice(-12);
    const elapsed = performance.now() - t0;
    if ((last.length === 12 && Math.max(...last) - Math.min(...last) < MB) || elapsed > 20_000) {
      return { rss: samples.at(-1)!, afterMs: elapsed, first };
    }
  }
}

/**
 * Settled idle RSS of the agent as `deno task build` makes it where `deno compile` cannot get its runtime
 * (as on this machine): the split bundle started by its launcher, default configuration, empty data directory.
 */
async function idleBuilt(
  launcher: string,
  dir: string,
): Promise<{ rss: number; afterMs: number; first: number }> {
  await Deno.mkdir(dir, { recursive: true });
  const config = path.join(dir, "agent.yaml");
  await Deno.writeTextFile(config, "archive:\n  minFreeMegabytes: 16\n");
  const [port, httpPort] = freePorts(["DICOM", "HTTP"]);
  const args = ["--config", config, "--data", dir, "--host", "127.0.0.1", "--port", String(port)];
  const proc = await spawnLogged("agent-built", launcher, [...args, "--http-port", String(httpPort)], dir, {
    DENO: Deno.execPath(),
  });
  try {
    await waitReady(proc, "built agent", answersOk(`http://127.0.0.1:${httpPort}/healthz`, [503]), 60_000);
    return await settledRss(proc.child.pid);
  } finally {
    await proc.stop();
  }
}

/** A row of the idle table: who, RSS when /healthz answered, settled RSS, seconds to settle. */
const idleRow = (name: string, s: { rss: number; first: number; afterMs: number }) => [
  name,
  fixed(s.first / MB),
  fixed(s.rss / MB),
  fixed(s.afterMs / 1000, 1),
];

async function run(opts: BenchOptions): Promise<BenchResult> {
  const { log, workDir } = opts;
  const noTool = skipReason("storescu");
  if (noTool) throw new Error(`memory ${noTool}`);
  const loadBefore = await loadAverage();
  const idle: { rss: number; first: number; afterMs: number }[] = [];
  for (let i = 0; i < IDLE_RUNS; i++) {
    const dir = path.join(workDir, `idle-${i}`);
    const agent = await startAgentReceiver(dir, {});
    try {
      const s = await settledRss(agent.pid);
      idle.push(s);
      log(
        `idle agent ${i + 1}: ${fixed(s.first / MB)} MB when it answered, ${fixed(s.rss / MB)} MB settled ` +
          `after ${fixed(s.afterMs / 1000, 1)} s`,
      );
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  const idleMb = median(idle.map((s) => s.rss)) / MB;
  const launcher = await bundleAgent(path.join(workDir, "built"));
  const built: { rss: number; first: number; afterMs: number }[] = [];
  for (let i = 0; i < IDLE_RUNS; i++) {
    const dir = path.join(workDir, `idle-built-${i}`);
    const s = await idleBuilt(launcher, dir);
    built.push(s);
    log(`built agent ${i + 1}: ${fixed(s.first / MB)} MB when it answered, ${fixed(s.rss / MB)} MB settled`);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  await Deno.remove(path.join(workDir, "built"), { recursive: true }).catch(() => {});
  const builtMb = median(built.map((s) => s.rss)) / MB;

  const pixelBytes = opts.quick ? 200_000_000 : 800_000_000;
  const large = await generateInSubprocess(path.join(workDir, "large"), pixelBytes, "bench-memory-large");
  const dir = path.join(workDir, "agent-large");
  const agent = await startAgentReceiver(dir, {});
  let result: {
    idle: number;
    peak: number;
    seconds: number;
    stored: number;
    code: number;
    samples: number[];
  };
  try {
    const before = await settledRss(agent.pid);
    const samples: number[] = [];
    const timer = setInterval(() => {
      try {
        samples.push(memory(agent.pid).rss);
      } catch { /* gone */ }
    }, 100);
    const t0 = performance.now();
    const out = await runDcmtk("storescu", [
      "-aet",
      "BENCH",
      "-aec",
      agent.aet,
      "127.0.0.1",
      String(agent.port),
      ...large.paths,
    ], { timeoutMs: 30 * 60_000 });
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(timer);
    result = {
      idle: before.rss,
      peak: memory(agent.pid).peakRss,
      seconds,
      stored: await agent.stored(),
      code: out.code,
      samples,
    };
  } finally {
    await agent.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.remove(path.join(workDir, "large"), { recursive: true }).catch(() => {});
  }
  const ok = result.code === 0 && result.stored === 1;
  const largeMb = fixed(large.bytes / MB);
  log(
    `${largeMb} MB object: ${fixed(result.seconds, 1)} s, idle ${fixed(result.idle / MB)} MB, ` +
      `peak ${fixed(result.peak / MB)} MB` +
      (ok ? "" : ` (storescu exit ${result.code}, ${result.stored} stored)`),
  );
  const loadAfter = await loadAverage();
  const q = (p: number) => {
    const s = [...result.samples].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
  };
  return {
    tables: [
      {
        title: `Idle agent (${IDLE_RUNS} agents of each), RSS MB`,
        columns: ["agent", "when /healthz answered", "settled", "settled after s"],
        rows: [
          ...idle.map((s, i) => idleRow(`deno task agent ${i + 1}`, s)),
          ...built.map((s, i) => idleRow(`built ${i + 1}`, s)),
        ],
      },
      {
        title: `One ${largeMb} MB object (${large.bytes} bytes) over one association`,
        columns: ["seconds", "idle RSS MB", "RSS during, median MB", "RSS during, p95 MB", "peak RSS MB"],
        rows: [[
          fixed(result.seconds, 1),
          fixed(result.idle / MB),
          fixed(q(50) / MB),
          fixed(q(95) / MB),
          fixed(result.peak / MB),
        ]],
      },
    ],
    targets: [
      {
        label:
          `idle agent as built (deno task build) ≤ ${TARGET_IDLE_MB} MB RSS (settled, median of ${IDLE_RUNS})`,
        measured: `${fixed(builtMb)} MB`,
        pass: builtMb <= TARGET_IDLE_MB,
      },
      {
        label:
          `idle agent from source (deno task agent) ≤ ${TARGET_IDLE_MB} MB RSS (settled, median of ${IDLE_RUNS})`,
        measured: `${fixed(idleMb)} MB`,
        pass: idleMb <= TARGET_IDLE_MB,
      },
      {
        label: `peak RSS ≤ ${TARGET_PEAK_MB} MB receiving one ${largeMb} MB object`,
        measured: ok ? `${fixed(result.peak / MB)} MB` : "not measured (transfer incomplete)",
        pass: ok ? result.peak / MB <= TARGET_PEAK_MB : undefined,
      },
    ],
    notes: [
      `MB = 10^6 bytes; RSS from /proc/<pid>/status (VmRSS, VmHWM)`,
      `load average (1, 5, 15 min) before ${loadBefore}, after ${loadAfter}`,
      ...(opts.quick ? ["quick mode: a 200 MB object"] : []),
    ],
    data: {
      idle,
      idleMb,
      built,
      builtMb,
      large: { bytes: large.bytes, ...result, samples: undefined },
      loadBefore,
      loadAfter,
    },
  };
}

export const memoryBench: Benchmark = {
  name: "memory",
  description: "the agent's idle RSS (settled) and its peak RSS receiving one 800 MB object",
  run,
};
