/**
 * Forwarding and C-GET between two agents with and without an Asynchronous Operations Window (issue 16,
 * point 3).
 *
 * Agent A routes everything to agent B (durable, as shipped), B's node entry at A proposing
 * `maxOpsInvoked` 1 (no window) or 8 (B grants up to its `dimse.maxOpsPerformed`, 16). A first forwards 100
 * objects (JIT warm-up), then its queue is paused while `storescu` loads 500 more (0.526 MB CT); the time runs
 * from the resume to A's last row done (each done on B's Success, after B synced the object). Three rounds,
 * the two windows alternated, each on fresh agents; medians. No target: DCMTK and Orthanc grant no window, so
 * the reference peers cannot take part; this shows what a peer that grants one (another agent) gets.
 *
 * C-GET: B holds the objects (loaded by `storescu`); A retrieves the study from B with `node retrieve`
 * (`retrieve: get`), B's node entry at A proposing `maxOpsPerformed` 1 (no window) or 8 (B sends up to its
 * `dimse.maxOpsInvoked`, 16), after an untimed retrieve of another 100-object study (JIT warm-up). The time
 * is the retrieve's HTTP call (every object stored at A before it answers). Same rounds and alternation.
 * `--quick`: one round of 100 objects.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { type AgentProcess, startAgentProcess } from "../tests/support/agent.ts";
import { skipReason } from "../tests/support/peers.ts";
import { fixed, generateCtSeries, median, processTicks, ticksPerSecond, until } from "./_shared.ts";
import { storescuInto } from "./_profile.ts";
import { writeGeneratedSeries } from "../tests/tools/generate.ts";

const WINDOWS = [1, 8];
const WARM = 100;

async function doneRows(agent: AgentProcess): Promise<{ pending: number; done: number }> {
  const res = await agent.http("/queue/summary");
  const body = await res.json() as { rows: { destination: string; state: string; count: number }[] };
  const counts = { pending: 0, done: 0 };
  for (const r of body.rows) {
    if (r.destination !== "b") continue;
    if (r.state === "pending") counts.pending += r.count;
    if (r.state === "done") counts.done += r.count;
  }
  return counts;
}

type Timed = { seconds: number; cpuA: number; cpuB: number };

/** The wall time of `work` and the CPU seconds both agents spent meanwhile. */
async function timed(a: AgentProcess, b: AgentProcess, work: () => Promise<void>): Promise<Timed> {
  const a0 = processTicks(a.pid).own, b0 = processTicks(b.pid).own;
  const t0 = performance.now();
  await work();
  const seconds = (performance.now() - t0) / 1000;
  const hz = await ticksPerSecond();
  return { seconds, cpuA: (processTicks(a.pid).own - a0) / hz, cpuB: (processTicks(b.pid).own - b0) / hz };
}

async function run(dir: string, window: number, paths: string[], warm: string[]) {
  const b = await startAgentProcess({ dataDir: path.join(dir, "b"), aet: "BEE" });
  const a = await startAgentProcess({
    dataDir: path.join(dir, "a"),
    aet: "AAA",
    config: {
      nodes: { b: { aet: "BEE", host: "127.0.0.1", port: b.port, maxOpsInvoked: window } },
      routes: [{ name: "all", match: {}, to: [{ node: "b" }] }],
    },
  });
  try {
    const warmed = await storescuInto(a, warm);
    if (warmed.code !== 0) throw new Error(`storescu into A: ${warmed.stderr.slice(-300)}`);
    await until("warm-up forwarded", async () => (await doneRows(a)).done >= warm.length, 300_000, 10);
    await (await a.http("/queue/pause/b", { method: "POST" })).body?.cancel();
    const loaded = await storescuInto(a, paths);
    if (loaded.code !== 0) throw new Error(`storescu into A: ${loaded.stderr.slice(-300)}`);
    await until("rows queued", async () => (await doneRows(a)).pending >= paths.length, 300_000, 10);
    return await timed(a, b, async () => {
      await (await a.http("/queue/resume/b", { method: "POST" })).body?.cancel();
      await until(
        "all forwarded",
        async () => (await doneRows(a)).done >= warm.length + paths.length,
        300_000,
        10,
      );
    });
  } finally {
    await a.stop();
    await b.stop();
  }
}

/** A retrieves `studyUid` from B by C-GET, B's entry proposing `window` as the maximum performed. */
async function runGet(
  dir: string,
  window: number,
  study: { uid: string; paths: string[] },
  warm: { uid: string; paths: string[] },
) {
  const b = await startAgentProcess({ dataDir: path.join(dir, "b"), aet: "BEE" });
  const a = await startAgentProcess({
    dataDir: path.join(dir, "a"),
    aet: "AAA",
    config: {
      nodes: {
        b: { aet: "BEE", host: "127.0.0.1", port: b.port, retrieve: "get", maxOpsPerformed: window },
      },
    },
  });
  const retrieve = async (uid: string, count: number) => {
    const res = await a.http("/nodes/b/retrieve", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ studyInstanceUid: uid }),
    });
    const report = await res.json() as { ok?: boolean; arrived?: number };
    if (!res.ok || !report.ok || report.arrived !== count) {
      throw new Error(`C-GET from B: ${res.status} ${JSON.stringify(report).slice(0, 300)}`);
    }
  };
  try {
    for (const s of [warm, study]) {
      const loaded = await storescuInto(b, s.paths);
      if (loaded.code !== 0) throw new Error(`storescu into B: ${loaded.stderr.slice(-300)}`);
    }
    await retrieve(warm.uid, warm.paths.length);
    return await timed(a, b, () => retrieve(study.uid, study.paths.length));
  } finally {
    await a.stop();
    await b.stop();
  }
}

/** A table row per window: its median time and rate, the rate of each round, median CPU of A and B. */
function rowsOf(results: Map<number, Timed[]>, n: number): string[][] {
  return WINDOWS.map((w) => {
    const rs = results.get(w)!;
    const s = median(rs.map((r) => r.seconds));
    return [
      String(w),
      fixed(s, 2),
      fixed(n / s),
      rs.map((r) => fixed(n / r.seconds)).join(" / "),
      fixed(median(rs.map((r) => r.cpuA)), 2),
      fixed(median(rs.map((r) => r.cpuB)), 2),
    ];
  });
}

export const asyncOps: Benchmark = {
  name: "asyncops",
  description: "agent -> agent forwarding and C-GET with and without an asynchronous operations window",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    const skip = skipReason("storescu");
    if (skip) throw new Error(`asyncops bench needs DCMTK: ${skip}`);
    const n = quick ? 100 : 500;
    const rounds = quick ? 1 : 3;
    const series = await generateCtSeries(path.join(workDir, "series"), n + WARM, log);
    const warm = series.paths.slice(0, WARM);
    const paths = series.paths.slice(WARM);
    const results = new Map<number, Timed[]>(
      WINDOWS.map((w) => [w, []]),
    );
    for (let round = 1; round <= rounds; round++) {
      for (const window of WINDOWS) {
        const r = await run(path.join(workDir, `w${window}-${round}`), window, paths, warm);
        log(`round ${round}: maxOpsInvoked ${window}: ${fixed(n / r.seconds)} files/s`);
        results.get(window)!.push(r);
      }
    }
    const getSeries = { uid: series.studyUid, paths };
    const warmStudy = await writeGeneratedSeries(path.join(workDir, "warm-get"), {
      count: WARM,
      seed: "warm-up",
    });
    const gets = new Map<number, Timed[]>(
      WINDOWS.map((w) => [w, []]),
    );
    for (let round = 1; round <= rounds; round++) {
      for (const window of WINDOWS) {
        const r = await runGet(path.join(workDir, `get${window}-${round}`), window, getSeries, {
          uid: warmStudy.studyUid,
          paths: warmStudy.paths,
        });
        log(`round ${round}: C-GET, maxOpsPerformed ${window}: ${fixed(n / r.seconds)} files/s`);
        gets.get(window)!.push(r);
      }
    }
    const rows = rowsOf(results, n);
    const ratio = median(results.get(1)!.map((r) => r.seconds)) /
      median(results.get(8)!.map((r) => r.seconds));
    const getRows = rowsOf(gets, n);
    const getRatio = median(gets.get(1)!.map((r) => r.seconds)) / median(gets.get(8)!.map((r) => r.seconds));
    return {
      tables: [{
        title: `A -> B, ${n} objects of 0.526 MB, B durable; median of ${rounds}`,
        columns: ["A's maxOpsInvoked", "seconds", "files/s", "files/s each round", "CPU A (s)", "CPU B (s)"],
        rows,
      }, {
        title: `C-GET: A retrieves ${n} objects of 0.526 MB from B, A durable; median of ${rounds}`,
        columns: [
          "A's maxOpsPerformed for B",
          "seconds",
          "files/s",
          "files/s each round",
          "CPU A (s)",
          "CPU B (s)",
        ],
        rows: getRows,
      }],
      targets: [],
      notes: [
        `forwarding, window 8 against none: ${
          fixed(ratio, 2)
        }x the rate (no target; DCMTK and Orthanc grant no window)`,
        `C-GET, window 8 against none: ${
          fixed(getRatio, 2)
        }x the rate (no target; DCMTK's getscu proposes no window)`,
        `each agent first forwarded (or retrieved) ${WARM} other objects, untimed (JIT warm-up)`,
      ],
      data: { files: n, rounds, results: Object.fromEntries(results), gets: Object.fromEntries(gets) },
    };
  },
};
