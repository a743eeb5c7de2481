/**
 * `deno task bench [NAME...] [--quick]`: runs the selected benchmarks (all of them when no name is given),
 * prints a result table for each and writes its machine-readable results to
 * `bench/.out/<name>-<timestamp>.json`.
 *
 * A benchmark is one file, `bench/<name>.ts`, exporting a {@link Benchmark}; add it to {@link BENCHMARKS}.
 * It measures against reference peers in the same run, reports figures and targets, and never fails on a
 * missed target: this command exits non-zero only for bad arguments or a benchmark that could not run.
 */
import { parseArgs } from "node:util";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { forward } from "./forward.ts";
import { ingest } from "./ingest.ts";
import { tunnel } from "./tunnel.ts";
import { dicomweb } from "./dicomweb.ts";
import { transfer } from "./transfer.ts";
import { deid } from "./deid.ts";
import { cluster } from "./cluster.ts";
import { memoryBench } from "./memory.ts";
import { asyncOps } from "./asyncops.ts";
import { query } from "./query.ts";
import { associations } from "./associations.ts";
import { runtime } from "./runtime.ts";

/** What every benchmark receives. */
export interface BenchOptions {
  /** A short run (fewer objects, one repetition) to check that the benchmark works. */
  quick: boolean;
  /** A fresh temporary directory owned by the runner, removed after the benchmark (even on failure). */
  workDir: string;
  /** Progress output (stderr); the result tables are printed by the runner. */
  log(message: string): void;
}

/** A table of figures, printed with aligned columns. */
export interface BenchTable {
  title: string;
  columns: string[];
  rows: string[][];
}

/** A figure compared with the target the issue sets for it. */
export interface BenchTarget {
  /** What is compared, e.g. "agent files/s ≥ 0.9 × storescp". */
  label: string;
  /** The measured figure as printed, e.g. "0.93×". */
  measured: string;
  /** True for PASS, false for MISS, undefined when it could not be measured (peer missing...). */
  pass: boolean | undefined;
}

/** What a benchmark reports. */
export interface BenchResult {
  tables: BenchTable[];
  targets: BenchTarget[];
  /** Remarks printed under the tables (skipped peers, incomplete transfers...). */
  notes: string[];
  /** Everything measured, for the JSON file. */
  data: Record<string, unknown>;
}

/** One benchmark: `bench/<name>.ts` exports one of these. */
export interface Benchmark {
  /** Lower-case name, used on the command line and in the results file name. */
  name: string;
  /** One line: what it measures. */
  description: string;
  run(opts: BenchOptions): Promise<BenchResult>;
}

/** Every benchmark, in the order `deno task bench` runs them. */
export const BENCHMARKS: Benchmark[] = [
  ingest,
  memoryBench,
  forward,
  asyncOps,
  associations,
  runtime,
  query,
  tunnel,
  dicomweb,
  transfer,
  deid,
  cluster,
];

const OUT_DIR = fileURLToPath(new URL("./.out/", import.meta.url));

/** Formats a table with aligned columns (numbers right-aligned). */
export function formatTable(table: BenchTable): string {
  const widths = table.columns.map((c, i) =>
    Math.max(c.length, ...table.rows.map((r) => (r[i] ?? "").length))
  );
  const numeric = /^[-+]?[0-9][0-9.,]*\s*([a-zA-Z%×/]+)?$/;
  const line = (cells: string[]) =>
    cells.map((cell, i) => numeric.test(cell) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))
      .join("  ").trimEnd();
  return [
    table.title,
    line(table.columns),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...table.rows.map(line),
  ].join("\n");
}

/** Formats a benchmark's tables, targets and notes for the terminal. */
export function formatResult(name: string, result: BenchResult): string {
  const parts = [`== ${name}`, ...result.tables.map(formatTable)];
  if (result.targets.length > 0) {
    const width = Math.max(...result.targets.map((t) => t.label.length));
    parts.push(
      [
        "Targets",
        ...result.targets.map((t) => {
          const verdict = t.pass === undefined ? "n/a " : t.pass ? "PASS" : "MISS";
          return `  ${verdict}  ${t.label.padEnd(width)}  measured ${t.measured}`;
        }),
      ].join("\n"),
    );
  }
  if (result.notes.length > 0) parts.push(["Notes", ...result.notes.map((n) => `  - ${n}`)].join("\n"));
  return parts.join("\n\n");
}

async function commandOutput(cmd: string, args: string[]): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : undefined;
  } catch {
    return undefined;
  }
}

/** The machine and code a result was measured on. */
async function environment(): Promise<Record<string, unknown>> {
  let os: string | undefined;
  try {
    os = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(await Deno.readTextFile("/etc/os-release"))?.[1];
  } catch {
    // not Linux
  }
  const root = fileURLToPath(new URL("../", import.meta.url));
  const commit = await commandOutput("git", ["-C", root, "rev-parse", "HEAD"]);
  const dirty = await commandOutput("git", ["-C", root, "status", "--porcelain", "--untracked-files=no"]);
  return {
    hostname: Deno.hostname(),
    loadAverageAtStart: Deno.loadavg(),
    os: os ?? Deno.build.os,
    kernel: Deno.osRelease(),
    cpus: navigator.hardwareConcurrency,
    memoryBytes: Deno.systemMemoryInfo().total,
    deno: Deno.version.deno,
    commit,
    worktreeModified: dirty === undefined ? undefined : dirty !== "",
  };
}

/** `2026-11-22T09-05-03Z`: an ISO timestamp usable in a file name. */
function fileStamp(date: Date): string {
  return date.toISOString().replace(/\.[0-9]+Z$/, "Z").replaceAll(":", "-");
}

const USAGE = `usage: deno task bench [NAME...] [--quick]\n\nbenchmarks:\n${
  BENCHMARKS.map((b) => `  ${b.name.padEnd(10)} ${b.description}`).join("\n")
}`;

/** Runs the benchmarks named in `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { quick: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    console.error(`bench: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const unknown = parsed.positionals.filter((n) => !BENCHMARKS.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`bench: unknown benchmark ${unknown.join(", ")}\n\n${USAGE}`);
    return 2;
  }
  const selected = parsed.positionals.length === 0
    ? BENCHMARKS
    : BENCHMARKS.filter((b) => parsed.positionals.includes(b.name));
  const quick = parsed.values.quick ?? false;
  const env = await environment();

  // Everything temporary goes under one directory, removed at the end: the benchmarks' work directories
  // and, through TMPDIR, the peer logs of tests/support/peers.ts. It is kept when a benchmark failed.
  const runDir = await Deno.makeTempDir({ prefix: "conduit-bench-" });
  const tmpBefore = Deno.env.get("TMPDIR");
  Deno.env.set("TMPDIR", runDir);
  // Ctrl-C: the peers are killed by tests/support/peers.ts on unload; then the run directory goes.
  const onInterrupt = () => {
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(runDir, { recursive: true });
      } catch {
        console.error(`bench: could not remove ${runDir}`);
      }
    });
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);

  let failed = 0;
  try {
    for (const bench of selected) {
      const started = new Date();
      const workDir = await Deno.makeTempDir({ dir: runDir, prefix: `${bench.name}-` });
      const log = (message: string) => console.error(`[${bench.name}] ${message}`);
      let result: BenchResult;
      try {
        result = await bench.run({ quick, workDir, log });
      } catch (err) {
        failed++;
        console.error(
          `bench: ${bench.name} failed: ${err instanceof Error ? err.stack ?? err.message : err}`,
        );
        continue;
      } finally {
        await Deno.remove(workDir, { recursive: true }).catch(() => log(`could not remove ${workDir}`));
      }
      const finished = new Date();
      console.log(`\n${formatResult(bench.name, result)}\n`);
      await Deno.mkdir(OUT_DIR, { recursive: true });
      const file = path.join(OUT_DIR, `${bench.name}-${fileStamp(started)}.json`);
      const record = {
        benchmark: bench.name,
        quick,
        args,
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        loadAverageAtEnd: Deno.loadavg(),
        environment: env,
        tables: result.tables,
        targets: result.targets,
        notes: result.notes,
        data: result.data,
      };
      await Deno.writeTextFile(file, JSON.stringify(record, null, 2) + "\n");
      console.log(`results: ${path.relative(Deno.cwd(), file)}`);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    if (tmpBefore === undefined) Deno.env.delete("TMPDIR");
    else Deno.env.set("TMPDIR", tmpBefore);
    if (failed === 0) await Deno.remove(runDir, { recursive: true }).catch(() => {});
    else console.error(`bench: peer logs kept in ${runDir}`);
  }
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
