/**
 * The runs of the forward benchmark (bench/forward.ts): one `storescu` run straight into `storescp`
 * (direct), or through an agent routing everything to a `storescp`, each measured on fresh directories
 * and freshly started processes.
 */
import * as path from "node:path";
import { runDcmtk, sleep, startStorescp, type ToolResult } from "../tests/support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../tests/support/agent.ts";
import {
  countEntries,
  fixed,
  memory,
  percentile,
  processTicks,
  syncDisks,
  systemTicks,
  ticksPerSecond,
  warmUp,
} from "./_shared.ts";

/** A stalled transfer should fail the run, not hang it. */
const RUN_TIMEOUT_MS = 15 * 60_000;
/** Once storescu is done: give up when nothing more has been delivered for this long. */
const STALL_MS = 60_000;
/** How often the destination's directory is counted while waiting (the agent itself is not polled). */
const POLL_MS = 20;

const ROUTE_CONFIG = {
  routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
};

export type PathName = "direct" | "agent" | "agent-nosync";

export interface Variant {
  name: Exclude<PathName, "direct">;
  setup: string;
  config: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------------
// Runs

/** What one run measured; the agent-only fields are undefined for the direct path. */
export interface RunResult {
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
  // Not -v: its per-object log lines, piped to this process, load the two cores during the timed run.
  return ["-aet", "BENCH", "-aec", aet, "127.0.0.1", String(port), ...files];
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

export async function runDirect(
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

/**
 * The agent's own durable ingest of the same files (as shipped, no route, started as for the forward
 * runs): `storescu`'s wall time, the reference of issue 16's forward target.
 */
export async function runAgentIngest(
  dir: string,
  files: string[],
  round: number,
  log: (message: string) => void,
  warmup: string[] = [],
): Promise<{ filesPerSecond: number; problem?: string }> {
  await syncDisks();
  const agent = await startAgentProcess({ dataDir: dir, config: {} });
  try {
    await warmUp(agent, warmup, RUN_TIMEOUT_MS);
    await syncDisks();
    const t0 = performance.now();
    const out = await runDcmtk("storescu", storescuArgs(agent.aet, agent.port, files), {
      timeoutMs: RUN_TIMEOUT_MS,
    });
    const seconds = (performance.now() - t0) / 1000;
    const problem = out.code === 0 ? undefined : problemOf(out, 0, files.length);
    const filesPerSecond = files.length / seconds;
    log(
      `agent-ingest round ${round}: ${files.length} files in ${seconds.toFixed(2)} s = ` +
        `${filesPerSecond.toFixed(0)} files/s` + (problem ? ` — ${problem}` : ""),
    );
    return { filesPerSecond, problem };
  } finally {
    await agent.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Waits until the agent has delivered `count` objects to the destination; resolves with its done rows. */
async function warmDelivered(agent: AgentProcess, count: number): Promise<number> {
  const until = performance.now() + RUN_TIMEOUT_MS;
  for (;;) {
    const done = (await queueCounts(agent)).done;
    if (done >= count) return done;
    if (performance.now() > until) {
      throw new Error(`warm-up: ${done} of ${count} delivered (agent log: ${agent.logFile})`);
    }
    await sleep(POLL_MS);
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

export async function runThroughAgent(
  variant: Variant,
  dir: string,
  files: string[],
  bytes: number,
  round: number,
  log: (message: string) => void,
  warmup: string[] = [],
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
    // The warm-up objects go through the agent to the destination first, all delivered before the run.
    await warmUp(agent, warmup, RUN_TIMEOUT_MS);
    const warmDone = warmup.length ? await warmDelivered(agent, warmup.length) : 0;
    const baseFiles = countEntries(destDir);
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
      deliveredAtIngestEnd = countEntries(destDir) - baseFiles;
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
      const n = countEntries(destDir) - baseFiles;
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
        if (q.done - warmDone >= expected || (out.code !== 0 && open === 0)) break;
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
    // The measured objects' rows: those queued after the run started (not the warm-up's).
    const rows = (await doneRows(agent, Math.max(1000, expected + warmDone + 100)))
      .filter((r) => r.createdAt >= startEpoch);
    const delivered = countEntries(destDir) - baseFiles;
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
