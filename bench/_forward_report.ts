/** The summaries, tables and targets of the forward benchmark (bench/forward.ts). */
import type { BenchTable, BenchTarget } from "./main.ts";
import { fixed, MB, median } from "./_shared.ts";
import type { PathName, RunResult } from "./_forward_runs.ts";

/** Target of issue 3: end-to-end files/s through the agent ≥ this × straight into storescp. */
const TARGET_RATIO = 0.7;
/** Target of issue 16: end-to-end files/s through the agent ≥ this × the agent's own durable ingest. */
const TARGET_INGEST_RATIO = 0.8;

export interface Summary {
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

export function summarize(name: PathName, runs: RunResult[]): Summary {
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

export function throughputTable(
  title: string,
  summaries: Summary[],
  direct: Summary | undefined,
): BenchTable {
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

export function latencyTable(title: string, summaries: Summary[]): BenchTable {
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

export function ratioTarget(
  s: Summary | undefined,
  direct: Summary | undefined,
  reference: boolean,
): BenchTarget {
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

/** Issue 16: forwarding as shipped against the agent's own durable ingest of the same files (no route). */
export function ingestRatioTarget(s: Summary | undefined, ingest: { filesPerSecond: number }[]): BenchTarget {
  const label = `issue 16: end-to-end files/s through the agent ≥ ${TARGET_INGEST_RATIO} × its own durable ` +
    "ingest (no route, same run)";
  if (!s || !s.complete || ingest.length === 0) {
    return { label, measured: "not measured (run incomplete)", pass: undefined };
  }
  const own = median(ingest.map((r) => r.filesPerSecond));
  const ratio = s.filesPerSecond / own;
  return {
    label,
    measured: `${ratio.toFixed(2)}× (${fixed(s.filesPerSecond)} vs ${fixed(own)} files/s)`,
    pass: ratio >= TARGET_INGEST_RATIO,
  };
}
