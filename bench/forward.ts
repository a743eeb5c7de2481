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
 *
 * Three rounds (direct, agent, agent without fsync, interleaved), each on fresh directories and freshly
 * started processes, after `sync`; medians. `--quick`: one round of 100 objects.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult, BenchTable, BenchTarget } from "./main.ts";
import { runDcmtk, skipReason, sleep, startStorescp, type ToolResult } from "../tests/support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../tests/support/agent.ts";
import {
  countEntries,
  fixed,
  generateCtSeries,
  MB,
  median,
  memory,
  percentile,
  processTicks,
  syncDisks,
  systemTicks,
  ticksPerSecond,
} from "./_shared.ts";

/** Target of issue 3: end-to-end files/s through the agent ≥ this × straight into storescp. */
const TARGET_RATIO = 0.7;

const FULL = { files: 500, rounds: 3 };
const QUICK = { files: 100, rounds: 1 };

/** A stalled transfer should fail the run, not hang it. */
const RUN_TIMEOUT_MS = 15 * 60_000;
/** Once storescu is done: give up when nothing more has been delivered for this long. */
const STALL_MS = 60_000;
/** How often the destination's directory is counted while waiting (the agent itself is not polled). */
const POLL_MS = 20;

/** A run with more busy CPU than this (% of one core) outside the measured processes gets a note. */
const OTHER_CPU_WARNING = 40;

const ROUTE_CONFIG = {
  routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
};

type PathName = "direct" | "agent" | "agent-nosync";

interface Variant {
  name: Exclude<PathName, "direct">;
  setup: string;
  config: Record<string, unknown>;
}

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
// Runs

/** What one run measured; the agent-only fields are undefined for the direct path. */
interface RunResult {
  path: PathName;
  round: number;
  files: number;
  bytes: number;
  /** Objects in the destination storescp's directory at the end. */
  delivered: number;
  storescuExit: number;
  /** storescu start → last object delivered (direct: storescu's wall time). */
  wallMs: number;
  filesPerSecond: number;
  /** storescu's own wall time: the ingest side. */
  ingestMs: number;
  ingestFilesPerSecond: number;
  /** Objects already in the destination when storescu finished. */
  deliveredAtIngestEnd: number;
  /** Associations the destination storescp received. */
  destAssociations: number;
  storescuCpuPercent: number;
  /** Destination storescp CPU over the whole run, % of one core. */
  destCpuPercent: number;
  /** Agent CPU, % of one core: over the whole run, while storescu ran, after it (draining). */
  agentCpuPercent?: number;
  agentIngestCpuPercent?: number;
  agentDrainCpuPercent?: number;
  agentCpuSeconds?: number;
  agentIdleRss?: number;
  agentPeakRss?: number;
  /** Success → delivery per object (doneAt − createdAt), ms. */
  latency?: { p50: number; p99: number; max: number; min: number; count: number };
  /** storescu start → first object delivered, ms. */
  firstDeliveryMs?: number;
  /** Last Success (latest createdAt) → last delivery, ms. */
  drainMs?: number;
  /** Busy CPU outside the measured processes, % of one core. */
  otherCpuPercent: number;
  machineBusyPercent: number;
  machineIowaitPercent: number;
  problem?: string;
}

function storescuArgs(aet: string, port: number, files: string[]): string[] {
  return ["-v", "-aet", "BENCH", "-aec", aet, "127.0.0.1", String(port), ...files];
}

/** Busy share of the whole machine and in I/O wait between two /proc/stat readings, in %. */
function machineShare(a: ReturnType<typeof systemTicks>, b: ReturnType<typeof systemTicks>) {
  const total = Math.max(1, b.total - a.total);
  return {
    busy: (100 * (total - (b.idle - a.idle) - (b.iowait - a.iowait))) / total,
    iowait: (100 * (b.iowait - a.iowait)) / total,
  };
}

/**
 * The client-side ports of the TCP connections to `port` on this machine, from /proc/net/tcp: open ones
 * and, for 60 s after they close, those in TIME_WAIT. Counting the new ones over a run gives the
 * associations made to a storescp without its `--verbose` log (which costs it about 30 % in files/s:
 * it writes and flushes a progress dot per PDU).
 */
function connectionsTo(port: number): Set<number> {
  const ports = new Set<number>();
  let text: string;
  try {
    text = Deno.readTextFileSync("/proc/net/tcp");
  } catch {
    return ports;
  }
  for (const line of text.split("\n").slice(1)) {
    const [, local, remote] = line.trim().split(/\s+/);
    if (!local || !remote) continue;
    const localPort = parseInt(local.split(":")[1], 16);
    const remotePort = parseInt(remote.split(":")[1], 16);
    if (remotePort === port) ports.add(localPort);
    else if (localPort === port && remotePort !== 0) ports.add(remotePort);
  }
  return ports;
}

/** Adds the connections to `port` seen now that were not there before the run. */
function collectConnections(port: number, before: Set<number>, seen: Set<number>): void {
  for (const p of connectionsTo(port)) if (!before.has(p)) seen.add(p);
}

function problemOf(out: ToolResult, delivered: number, files: number, extra = ""): string | undefined {
  if (out.code === 0 && delivered === files && !extra) return undefined;
  const lines = (out.stderr + out.stdout).split("\n").filter((l) => /^[EWF]:/.test(l)).slice(0, 5);
  return `storescu exit ${out.code}, ${delivered} of ${files} delivered` + (extra ? `, ${extra}` : "") +
    (lines.length ? `: ${lines.join(" | ")}` : "");
}

async function runDirect(
  dir: string,
  files: string[],
  bytes: number,
  round: number,
  log: (message: string) => void,
): Promise<RunResult> {
  await syncDisks();
  const dest = await startStorescp({ dir, bitPreserving: true });
  try {
    const hz = await ticksPerSecond();
    await syncDisks();
    const connectionsBefore = connectionsTo(dest.port);
    const d0 = processTicks(dest.pid);
    const self0 = processTicks("self");
    const sys0 = systemTicks();
    const t0 = performance.now();
    const out = await runDcmtk("storescu", storescuArgs(dest.aet, dest.port, files), {
      timeoutMs: RUN_TIMEOUT_MS,
    });
    const wallMs = performance.now() - t0;
    const d1 = processTicks(dest.pid);
    const self1 = processTicks("self");
    const sys1 = systemTicks();
    const seconds = wallMs / 1000;
    const delivered = countEntries(dir);
    const connections = new Set<number>();
    collectConnections(dest.port, connectionsBefore, connections);
    const share = machineShare(sys0, sys1);
    const destCpuPercent = (100 * (d1.own - d0.own) / hz) / seconds;
    const storescuCpuPercent = (100 * (self1.children - self0.children) / hz) / seconds;
    const benchCpuPercent = (100 * (self1.own - self0.own) / hz) / seconds;
    const result: RunResult = {
      path: "direct",
      round,
      files: files.length,
      bytes,
      delivered,
      storescuExit: out.code,
      wallMs,
      filesPerSecond: files.length / seconds,
      ingestMs: wallMs,
      ingestFilesPerSecond: files.length / seconds,
      deliveredAtIngestEnd: delivered,
      destAssociations: connections.size,
      storescuCpuPercent,
      destCpuPercent,
      otherCpuPercent: navigator.hardwareConcurrency * share.busy - destCpuPercent - storescuCpuPercent -
        benchCpuPercent,
      machineBusyPercent: share.busy,
      machineIowaitPercent: share.iowait,
      problem: problemOf(out, delivered, files.length),
    };
    if (result.problem) result.problem += ` (storescp log: ${dest.logFile})`;
    log(
      `direct round ${round}: ${files.length} files in ${seconds.toFixed(2)} s = ` +
        `${result.filesPerSecond.toFixed(0)} files/s` + (result.problem ? ` — ${result.problem}` : ""),
    );
    return result;
  } finally {
    await dest.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Queue rows of the destination by state, from GET /queue/summary. */
async function queueCounts(agent: AgentProcess): Promise<Record<string, number>> {
  const res = await agent.http("/queue/summary");
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`GET /queue/summary: ${res.status} (agent log: ${agent.logFile})`);
  }
  const body = await res.json() as { rows: { destination: string; state: string; count: number }[] };
  const counts: Record<string, number> = { pending: 0, in_flight: 0, failed: 0, done: 0, dead: 0 };
  for (const r of body.rows) if (r.destination === "dest") counts[r.state] = (counts[r.state] ?? 0) + r.count;
  return counts;
}

interface DoneRow {
  createdAt: number;
  doneAt: number;
}

async function doneRows(agent: AgentProcess, limit: number): Promise<DoneRow[]> {
  const res = await agent.http(`/queue?state=done&limit=${limit}`);
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`GET /queue?state=done: ${res.status} (agent log: ${agent.logFile})`);
  }
  return (await res.json() as { createdAt: number; doneAt: number | null }[])
    .filter((r): r is DoneRow => r.doneAt !== null);
}

async function runThroughAgent(
  variant: Variant,
  dir: string,
  files: string[],
  bytes: number,
  round: number,
  log: (message: string) => void,
): Promise<RunResult> {
  const destDir = path.join(dir, "dest");
  const agentDir = path.join(dir, "agent");
  await syncDisks();
  const dest = await startStorescp({
    dir: destDir,
    aet: "DEST",
    bitPreserving: true,
  });
  let agent: AgentProcess | undefined;
  try {
    agent = await startAgentProcess({
      dataDir: agentDir,
      config: {
        ...variant.config,
        nodes: { dest: { aet: dest.aet, host: "127.0.0.1", port: dest.port } },
        ...ROUTE_CONFIG,
      },
    });
    const hz = await ticksPerSecond();
    const agentIdleRss = memory(agent.pid).rss;
    await syncDisks();
    const connectionsBefore = connectionsTo(dest.port);
    const connections = new Set<number>();
    const expected = files.length;
    const ticks = () => ({
      agent: processTicks(agent!.pid),
      dest: processTicks(dest.pid),
      self: processTicks("self"),
      sys: systemTicks(),
      t: performance.now(),
    });
    const start = ticks();
    const startEpoch = Date.now();
    let ingestEnd: ReturnType<typeof ticks> | undefined;
    let deliveredAtIngestEnd = 0;
    let out: ToolResult | undefined;
    const storescu = runDcmtk("storescu", storescuArgs(agent.aet, agent.port, files), {
      timeoutMs: RUN_TIMEOUT_MS,
    }).then((o) => {
      ingestEnd = ticks();
      deliveredAtIngestEnd = countEntries(destDir);
      out = o;
    });

    // Wait for the last delivery: count the destination's files (no load on the agent), and ask the
    // agent's queue only when they are all there, or once a second after storescu has finished. Once a
    // second, note the connections to the destination (each association is one).
    let waitProblem = "";
    let lastCount = -1;
    let lastProgress = performance.now();
    let lastSecond = performance.now();
    for (;;) {
      await sleep(POLL_MS);
      const now = performance.now();
      const n = countEntries(destDir);
      if (n !== lastCount) {
        lastCount = n;
        lastProgress = now;
      }
      const everySecond = now - lastSecond >= 1000;
      if (everySecond) {
        lastSecond = now;
        collectConnections(dest.port, connectionsBefore, connections);
      }
      if (out && (n >= expected || everySecond)) {
        const q = await queueCounts(agent);
        const open = q.pending + q.in_flight + q.failed;
        if (q.done >= expected || (out.code !== 0 && open === 0)) break;
      }
      if (out && now - lastProgress > STALL_MS) {
        waitProblem = `nothing delivered for ${STALL_MS / 1000} s`;
        break;
      }
      if (now - start.t > RUN_TIMEOUT_MS) {
        waitProblem = `not delivered after ${RUN_TIMEOUT_MS / 1000} s`;
        break;
      }
    }
    const end = ticks();
    collectConnections(dest.port, connectionsBefore, connections);
    await storescu;
    const { peakRss } = memory(agent.pid);
    const rows = await doneRows(agent, Math.max(1000, expected));
    const delivered = countEntries(destDir);
    const latencies = rows.map((r) => r.doneAt - r.createdAt);
    const lastDone = rows.length ? Math.max(...rows.map((r) => r.doneAt)) : NaN;
    const firstDone = rows.length ? Math.min(...rows.map((r) => r.doneAt)) : NaN;
    const lastSuccess = rows.length ? Math.max(...rows.map((r) => r.createdAt)) : NaN;
    // The end is the agent's own record of the last delivery, not when this loop noticed it.
    const wallMs = rows.length === expected ? lastDone - startEpoch : end.t - start.t;
    const ing = ingestEnd!;
    const ingestMs = ing.t - start.t;
    const drainSeconds = Math.max(0.001, (end.t - ing.t) / 1000);
    const pct = (ticksUsed: number, seconds: number) => (100 * ticksUsed / hz) / seconds;
    const windowSeconds = (end.t - start.t) / 1000;
    const share = machineShare(start.sys, end.sys);
    const agentCpuPercent = pct(end.agent.own - start.agent.own, windowSeconds);
    const destCpuPercent = pct(end.dest.own - start.dest.own, windowSeconds);
    const storescuCpuSeconds = (end.self.children - start.self.children) / hz;
    const benchCpuPercent = pct(end.self.own - start.self.own, windowSeconds);
    const result: RunResult = {
      path: variant.name,
      round,
      files: expected,
      bytes,
      delivered,
      storescuExit: out!.code,
      wallMs,
      filesPerSecond: expected / (wallMs / 1000),
      ingestMs,
      ingestFilesPerSecond: expected / (ingestMs / 1000),
      deliveredAtIngestEnd,
      destAssociations: connections.size,
      storescuCpuPercent: (100 * storescuCpuSeconds) / (ingestMs / 1000),
      destCpuPercent,
      agentCpuPercent,
      agentIngestCpuPercent: pct(ing.agent.own - start.agent.own, ingestMs / 1000),
      agentDrainCpuPercent: pct(end.agent.own - ing.agent.own, drainSeconds),
      agentCpuSeconds: (end.agent.own - start.agent.own) / hz,
      agentIdleRss,
      agentPeakRss: peakRss,
      latency: {
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        max: latencies.length ? Math.max(...latencies) : NaN,
        min: latencies.length ? Math.min(...latencies) : NaN,
        count: latencies.length,
      },
      firstDeliveryMs: firstDone - startEpoch,
      drainMs: lastDone - lastSuccess,
      otherCpuPercent: navigator.hardwareConcurrency * share.busy - agentCpuPercent - destCpuPercent -
        (100 * storescuCpuSeconds) / windowSeconds - benchCpuPercent,
      machineBusyPercent: share.busy,
      machineIowaitPercent: share.iowait,
      problem: problemOf(
        out!,
        delivered,
        expected,
        [waitProblem, rows.length !== expected ? `${rows.length} queue rows done` : ""].filter(Boolean)
          .join(", "),
      ),
    };
    await agent.stop();
    await dest.stop();
    if (result.problem) result.problem += ` (agent log: ${agent.logFile}; storescp log: ${dest.logFile})`;
    log(
      `${variant.name} round ${round}: ${expected} files delivered in ${(wallMs / 1000).toFixed(2)} s = ` +
        `${result.filesPerSecond.toFixed(0)} files/s (storescu ${(ingestMs / 1000).toFixed(2)} s), ` +
        `Success → delivery p50 ${fixed(result.latency!.p50)} ms, p99 ${fixed(result.latency!.p99)} ms, ` +
        `agent CPU ${fixed(agentCpuPercent)} %` + (result.problem ? ` — ${result.problem}` : ""),
    );
    return result;
  } finally {
    await agent?.stop();
    await dest.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------
// Summaries

interface Summary {
  path: PathName;
  runs: RunResult[];
  complete: boolean;
  medianWallMs: number;
  filesPerSecond: number;
  megabytesPerSecond: number;
  medianIngestMs: number;
  ingestFilesPerSecond: number;
  deliveredAtIngestEnd: number;
  destAssociations: number;
  storescuCpuPercent: number;
  destCpuPercent: number;
  agentCpuPercent: number;
  agentIngestCpuPercent: number;
  agentDrainCpuPercent: number;
  agentPeakRss: number;
  latencyP50: number;
  latencyP99: number;
  latencyMax: number;
  firstDeliveryMs: number;
  drainMs: number;
}

function summarize(name: PathName, runs: RunResult[]): Summary {
  const med = (f: (r: RunResult) => number | undefined) => median(runs.map((r) => f(r) ?? NaN));
  const medianWallMs = med((r) => r.wallMs);
  const medianIngestMs = med((r) => r.ingestMs);
  return {
    path: name,
    runs,
    complete: runs.every((r) => !r.problem),
    medianWallMs,
    filesPerSecond: runs[0].files / (medianWallMs / 1000),
    megabytesPerSecond: runs[0].bytes / MB / (medianWallMs / 1000),
    medianIngestMs,
    ingestFilesPerSecond: runs[0].files / (medianIngestMs / 1000),
    deliveredAtIngestEnd: med((r) => r.deliveredAtIngestEnd),
    destAssociations: med((r) => r.destAssociations),
    storescuCpuPercent: med((r) => r.storescuCpuPercent),
    destCpuPercent: med((r) => r.destCpuPercent),
    agentCpuPercent: med((r) => r.agentCpuPercent),
    agentIngestCpuPercent: med((r) => r.agentIngestCpuPercent),
    agentDrainCpuPercent: med((r) => r.agentDrainCpuPercent),
    agentPeakRss: med((r) => r.agentPeakRss),
    latencyP50: med((r) => r.latency?.p50),
    latencyP99: med((r) => r.latency?.p99),
    latencyMax: med((r) => r.latency?.max),
    firstDeliveryMs: med((r) => r.firstDeliveryMs),
    drainMs: med((r) => r.drainMs),
  };
}

const LABEL: Record<PathName, string> = {
  direct: "direct: storescu → storescp",
  agent: "storescu → agent → storescp",
  "agent-nosync": "same, agent dimse.sync: false",
};

function throughputTable(title: string, summaries: Summary[], direct: Summary | undefined): BenchTable {
  const viaAgent = (s: Summary, text: string) => s.path === "direct" ? "-" : text;
  return {
    title,
    columns: [
      "path",
      "files/s (runs)",
      "median s",
      "files/s",
      "MB/s",
      "× direct",
      "storescu s",
      "ingest files/s",
      "delivered at storescu end",
      "connections to dest",
      "agent CPU % (ingest / drain)",
      "dest CPU %",
      "agent peak RSS MB",
    ],
    rows: summaries.map((s) => [
      LABEL[s.path] + (s.complete ? "" : " (INCOMPLETE)"),
      s.runs.map((r) => fixed(r.filesPerSecond)).join(" / "),
      fixed(s.medianWallMs / 1000, 2),
      fixed(s.filesPerSecond),
      fixed(s.megabytesPerSecond),
      direct ? `${fixed(s.filesPerSecond / direct.filesPerSecond, 2)}×` : "?",
      fixed(s.medianIngestMs / 1000, 2),
      fixed(s.ingestFilesPerSecond),
      viaAgent(s, fixed(s.deliveredAtIngestEnd)),
      fixed(s.destAssociations),
      viaAgent(
        s,
        `${fixed(s.agentCpuPercent)} (${fixed(s.agentIngestCpuPercent)} / ${fixed(s.agentDrainCpuPercent)})`,
      ),
      fixed(s.destCpuPercent),
      viaAgent(s, fixed(s.agentPeakRss / MB)),
    ]),
  };
}

function latencyTable(title: string, summaries: Summary[]): BenchTable {
  return {
    title,
    columns: [
      "path",
      "p50 ms (runs)",
      "p50 ms",
      "p99 ms (runs)",
      "p99 ms",
      "max ms",
      "first delivery after start ms",
      "last Success → last delivery ms",
    ],
    rows: summaries.filter((s) => s.path !== "direct").map((s) => [
      LABEL[s.path] + (s.complete ? "" : " (INCOMPLETE)"),
      s.runs.map((r) => fixed(r.latency?.p50 ?? NaN)).join(" / "),
      fixed(s.latencyP50),
      s.runs.map((r) => fixed(r.latency?.p99 ?? NaN)).join(" / "),
      fixed(s.latencyP99),
      fixed(s.latencyMax),
      fixed(s.firstDeliveryMs),
      fixed(s.drainMs),
    ]),
  };
}

function ratioTarget(s: Summary | undefined, direct: Summary | undefined, reference: boolean): BenchTarget {
  const label = reference
    ? "for reference: the same with dimse.sync: false"
    : `end-to-end files/s through the agent ≥ ${TARGET_RATIO} × storescu → storescp`;
  if (!s || !direct || !s.complete || !direct.complete) {
    return { label, measured: "not measured (run incomplete)", pass: undefined };
  }
  const ratio = s.filesPerSecond / direct.filesPerSecond;
  return {
    label,
    measured: `${ratio.toFixed(2)}× (${fixed(s.filesPerSecond)} vs ${fixed(direct.filesPerSecond)} files/s)`,
    pass: reference ? undefined : ratio >= TARGET_RATIO,
  };
}

// ---------------------------------------------------------------------------------------------------

async function run(opts: BenchOptions): Promise<BenchResult> {
  const { log, workDir } = opts;
  const plan = opts.quick ? QUICK : FULL;
  const missing = skipReason("storescu", "storescp");
  if (missing) throw new Error(`forward ${missing}`);
  const notes: string[] = [];
  if (opts.quick) notes.push("quick mode: one round of 100 objects; figures are indicative only");

  const series = await generateCtSeries(path.join(workDir, "series"), plan.files, log);
  const names: PathName[] = ["direct", ...VARIANTS.map((v) => v.name)];
  const runs = new Map<PathName, RunResult[]>(names.map((n) => [n, []]));
  for (let round = 1; round <= plan.rounds; round++) {
    runs.get("direct")!.push(
      await runDirect(path.join(workDir, `direct-${round}`), series.paths, series.bytes, round, log),
    );
    for (const variant of VARIANTS) {
      const dir = path.join(workDir, `${variant.name}-${round}`);
      runs.get(variant.name)!.push(
        await runThroughAgent(variant, dir, series.paths, series.bytes, round, log),
      );
    }
  }
  await Deno.remove(path.join(workDir, "series"), { recursive: true });

  const summaries = names.map((n) => summarize(n, runs.get(n)!));
  const byName = (n: PathName) => summaries.find((s) => s.path === n);
  const direct = byName("direct");
  const agent = byName("agent");
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
