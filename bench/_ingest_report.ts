/** The ingest benchmark's summaries, tables and targets (bench/ingest.ts runs it). */
import type { BenchTable, BenchTarget } from "./main.ts";
import { fixed, MB, median, mediansOf } from "./_shared.ts";

/** Agent / Orthanc files per second wanted (issue 2). */
export const TARGET_VS_ORTHANC = 3;

export type ReceiverName =
  | "agent"
  | "agent-nosync"
  | "storescp"
  | "storescp-131072"
  | "storescp-fork"
  | "orthanc"
  | "agent-resend"
  | "storescp-resend"
  | "orthanc-resend";

export interface RunResult {
  receiver: ReceiverName;
  round: number;
  files: number;
  bytes: number;
  /** Objects the receiver holds afterwards. */
  stored: number;
  storescuExit: number;
  /** `Max Send PDV` storescu reported: the PDU size the receiver accepted, less the PDV header. */
  maxSendPdv: number | undefined;
  wallMs: number;
  filesPerSecond: number;
  megabytesPerSecond: number;
  /** Receiver RSS after start-up, before the transfer. */
  idleRss: number;
  /** Receiver VmHWM at the end of the run (its whole life, start-up included). */
  peakRss: number;
  /** Receiver CPU seconds during the transfer, and as % of one core. */
  receiverCpuSeconds: number;
  /** Of it, in the kernel (system time). */
  receiverSysSeconds: number;
  receiverCpuPercent: number;
  storescuCpuSeconds: number;
  storescuCpuPercent: number;
  /**
   * Busy CPU (% of one core) not spent in the receiver, storescu or this process: kernel threads, or other
   * load on the machine that makes the run less trustworthy.
   */
  otherCpuPercent: number;
  /** CPU of this benchmark process (it pumps the receivers' logs), as % of one core. */
  benchCpuPercent: number;
  /** Share of the whole machine (all cores) busy, and waiting on I/O, during the transfer. */
  machineBusyPercent: number;
  machineIowaitPercent: number;
  /** First lines of storescu's output when it failed or not everything was stored. */
  problem?: string;
}

export interface Summary {
  receiver: ReceiverName;
  runs: RunResult[];
  complete: boolean;
  medianWallMs: number;
  filesPerSecond: number;
  megabytesPerSecond: number;
  medianPeakRss: number;
  maxPeakRss: number;
  receiverCpuPercent: number;
  storescuCpuPercent: number;
  machineBusyPercent: number;
  machineIowaitPercent: number;
}

export function summarize(receiver: ReceiverName, runs: RunResult[]): Summary {
  const medianWallMs = median(runs.map((r) => r.wallMs));
  const files = runs[0].files;
  return {
    receiver,
    runs,
    complete: runs.every((r) => !r.problem),
    medianWallMs,
    filesPerSecond: files / (medianWallMs / 1000),
    megabytesPerSecond: runs[0].bytes / MB / (medianWallMs / 1000),
    medianPeakRss: median(runs.map((r) => r.peakRss)),
    maxPeakRss: Math.max(...runs.map((r) => r.peakRss)),
    receiverCpuPercent: median(runs.map((r) => r.receiverCpuPercent)),
    storescuCpuPercent: median(runs.map((r) => r.storescuCpuPercent)),
    machineBusyPercent: median(runs.map((r) => r.machineBusyPercent)),
    machineIowaitPercent: median(runs.map((r) => r.machineIowaitPercent)),
  };
}

export function seriesTable(title: string, summaries: Summary[]): BenchTable {
  return {
    title,
    columns: [
      "receiver",
      "files/s (runs)",
      "median s",
      "files/s",
      "MB/s",
      "peak RSS MB",
      "recv CPU %",
      "storescu CPU %",
      "machine busy %",
      "iowait %",
      "max PDV",
    ],
    rows: summaries.map((s) => [
      s.receiver + (s.complete ? "" : " (INCOMPLETE)"),
      s.runs.map((r) => fixed(r.filesPerSecond)).join(" / "),
      fixed(s.medianWallMs / 1000, 2),
      fixed(s.filesPerSecond),
      fixed(s.megabytesPerSecond),
      s.runs.length > 1
        ? `${fixed(s.medianPeakRss / MB)} (max ${fixed(s.maxPeakRss / MB)})`
        : fixed(s.maxPeakRss / MB),
      fixed(s.receiverCpuPercent),
      fixed(s.storescuCpuPercent),
      fixed(s.machineBusyPercent),
      fixed(s.machineIowaitPercent),
      String(s.runs[0].maxSendPdv ?? "?"),
    ]),
  };
}

export function largeTable(title: string, runs: RunResult[]): BenchTable {
  return {
    title,
    columns: [
      "receiver",
      "seconds",
      "MB/s",
      "idle RSS MB",
      "peak RSS MB",
      "recv CPU %",
      "storescu CPU %",
      "iowait %",
    ],
    rows: runs.map((r) => [
      r.receiver + (r.problem ? " (INCOMPLETE)" : ""),
      fixed(r.wallMs / 1000, 2),
      fixed(r.megabytesPerSecond),
      fixed(r.idleRss / MB),
      fixed(r.peakRss / MB),
      fixed(r.receiverCpuPercent),
      fixed(r.storescuCpuPercent),
      fixed(r.machineIowaitPercent),
    ]),
  };
}

export function ratioTarget(
  agent: Summary | undefined,
  other: Summary | undefined,
  goal: number,
): BenchTarget {
  const label = `agent files/s ≥ ${goal} × ${
    other?.receiver ?? (goal === TARGET_VS_ORTHANC ? "orthanc" : "storescp")
  }`;
  if (!agent || !other || !agent.complete || !other.complete) {
    return { label, measured: "not measured (receiver missing or incomplete)", pass: undefined };
  }
  const ratio = agent.filesPerSecond / other.filesPerSecond;
  return {
    label,
    measured: `${ratio.toFixed(2)}× (${fixed(agent.filesPerSecond)} vs ${
      fixed(other.filesPerSecond)
    } files/s)`,
    pass: ratio >= goal,
  };
}

// ---------------------------------------------------------------------------------------------------

/** Targets of issue 16, with PASS or MISS. */
export function issue16Targets(
  byName: (name: ReceiverName) => Summary | undefined,
  syncLoopMs: number,
  /** Median files/s of each receiver's runs with 4 associations (`runs`: each run's). */
  parallel: { receiver: ReceiverName; filesPerSecond: number; runs?: number[]; problem?: string }[],
): BenchTarget[] {
  const out: BenchTarget[] = [];
  const agent = byName("agent");
  const storescp = byName("storescp");
  const label1 = "issue 16: durable agent ≥ 0.8 × floor (storescp time + sync loop over the same files)";
  if (agent?.complete && storescp?.complete) {
    const floorMs = storescp.medianWallMs + syncLoopMs;
    const floor = agent.runs[0].files / (floorMs / 1000);
    const ratio = agent.filesPerSecond / floor;
    out.push({
      label: label1,
      measured: `${ratio.toFixed(2)}× (${fixed(agent.filesPerSecond)} vs ${fixed(floor)} files/s: storescp ${
        fixed(storescp.medianWallMs)
      } ms + sync loop ${fixed(syncLoopMs)} ms)`,
      pass: ratio >= 0.8,
    });
  } else out.push({ label: label1, measured: "not measured", pass: undefined });
  const nosync = byName("agent-nosync");
  const pdu = byName("storescp-131072");
  const label2 = "issue 16: agent with sync: false ≥ 0.8 × storescp --max-pdu 131072";
  if (nosync?.complete && pdu?.complete) {
    const ratio = nosync.filesPerSecond / pdu.filesPerSecond;
    out.push({
      label: label2,
      measured: `${ratio.toFixed(2)}× (${fixed(nosync.filesPerSecond)} vs ${
        fixed(pdu.filesPerSecond)
      } files/s)`,
      pass: ratio >= 0.8,
    });
  } else out.push({ label: label2, measured: "not measured", pass: undefined });
  const a4 = parallel.find((p) => p.receiver === "agent");
  const s4 = parallel.find((p) => p.receiver === "storescp-fork");
  const label3 = "issue 16: 4 associations, durable agent ≥ 0.5 × storescp --fork with 4";
  if (a4 && s4 && !a4.problem && !s4.problem) {
    const ratio = a4.filesPerSecond / s4.filesPerSecond;
    out.push({
      label: label3,
      measured: `${ratio.toFixed(2)}× (${fixed(a4.filesPerSecond)} vs ${fixed(s4.filesPerSecond)} files/s` +
        `${mediansOf(a4.runs ?? [], s4.runs ?? [])})`,
      pass: ratio >= 0.5,
    });
  } else {
    out.push({
      label: label3,
      measured: `not measured${a4?.problem ? `: agent ${a4.problem}` : ""}${
        s4?.problem ? `: storescp ${s4.problem}` : ""
      }`,
      pass: undefined,
    });
  }
  return out;
}

/** The ingest benchmark: C-STORE throughput and memory of the agent against storescp and Orthanc. */
