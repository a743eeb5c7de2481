/**
 * What several benchmarks share: the generated CT series, CPU and memory figures from /proc, and small
 * statistics. Not a benchmark itself (no `Benchmark` export; the leading underscore says so).
 */
import { type GenerateSeriesSummary, writeGeneratedSeries } from "../tests/tools/generate.ts";
import { listFiles } from "../tests/support/agent.ts";
import { runDcmtk } from "../tests/support/peers.ts";

export const MB = 1_000_000;

/** Same seed, same UIDs and bytes: every benchmark sends the same objects. */
const SERIES_SEED = "bench-ingest";

/**
 * Writes the benchmark series, `count` generated CT objects (512 × 512 × 16 bit, explicit VR little
 * endian, 0.526 MB each), to `dir/<n>.dcm`, and logs how long it took.
 */
export async function generateCtSeries(
  dir: string,
  count: number,
  log: (message: string) => void,
): Promise<GenerateSeriesSummary> {
  const t = performance.now();
  const series = await writeGeneratedSeries(dir, { count, seed: SERIES_SEED });
  log(
    `generated ${series.files} CT objects, ${(series.bytes / MB).toFixed(1)} MB, in ` +
      `${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
  return series;
}

/** Files under `dir` (recursively), 0 when it does not exist. */
export async function countFiles(dir: string): Promise<number> {
  try {
    return (await listFiles(dir)).length;
  } catch {
    return 0;
  }
}

/** Entries directly in `dir` (no recursion: cheap enough to poll), 0 when it does not exist. */
export function countEntries(dir: string): number {
  let n = 0;
  try {
    for (const _ of Deno.readDirSync(dir)) n++;
  } catch {
    // not created yet
  }
  return n;
}

// ---------------------------------------------------------------------------------------------------
// /proc

let clockTicks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`, 100 when unknown). */
export async function ticksPerSecond(): Promise<number> {
  if (clockTicks !== undefined) return clockTicks;
  clockTicks = 100;
  try {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"], stdout: "piped", stderr: "null" })
      .output();
    const n = Number(new TextDecoder().decode(out.stdout).trim());
    if (out.success && Number.isInteger(n) && n > 0) clockTicks = n;
  } catch {
    // keep 100
  }
  return clockTicks;
}

/** utime + stime (own), stime alone (sys) and cutime + cstime (reaped children) of a process, in clock ticks. */
export function processTicks(pid: number | "self"): { own: number; sys: number; children: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // fields after "(comm)": index 0 is field 3 (state); utime is field 14
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ").map(Number);
  return { own: f[11] + f[12], sys: f[12], children: f[13] + f[14] };
}

/** Machine-wide CPU counters from the first line of /proc/stat, in clock ticks. */
export function systemTicks(): { total: number; idle: number; iowait: number } {
  const line = Deno.readTextFileSync("/proc/stat").split("\n", 1)[0];
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3], iowait: f[4] };
}

/** VmHWM (peak RSS) and VmRSS of a process, in bytes. */
export function memory(pid: number | "self"): { peakRss: number; rss: number } {
  const text = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+([0-9]+) kB`, "m").exec(text)?.[1] ?? NaN);
  return { peakRss: kb("VmHWM") * 1024, rss: kb("VmRSS") * 1024 };
}

/** Flushes dirty pages so one run's write-back does not land in the next run's timing. */
export async function syncDisks(): Promise<void> {
  try {
    await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output();
  } catch {
    // no sync(1): carry on
  }
}

/**
 * Leaves about `bytes` of page cache just freed, for the next run to write into: writes that much in 1 MiB
 * files under `dir` and removes them. This VM hands freed memory back to its host within about a second,
 * and a write into pages the host must back again costs up to ten times more kernel time (bench/README.md,
 * "receive path, 2026-12-04"); whichever tool ran right after a deletion was favoured. Called before each
 * timed run of two tools that write their output, it gives both the same start.
 */
export function freshPages(dir: string, bytes: number): void {
  Deno.mkdirSync(dir, { recursive: true });
  const block = new Uint8Array(1 << 20).fill(0x5a);
  const files = Math.ceil(bytes / block.length);
  for (let i = 0; i < files; i++) Deno.writeFileSync(`${dir}/${i}`, block);
  Deno.removeSync(dir, { recursive: true });
}

// ---------------------------------------------------------------------------------------------------
// Statistics and formatting

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (`p` in 0..100) of unsorted values; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** `n` with `digits` decimals, "?" when not a finite number. */
export const fixed = (n: number, digits = 0): string => Number.isFinite(n) ? n.toFixed(digits) : "?";

/**
 * The runs behind a ratio of two medians, for a target line: ", medians of 1 / 2 / 3 and 4 / 5 / 6" (empty
 * with one run of each).
 */
export function mediansOf(a: number[], b: number[]): string {
  if (a.length < 2 && b.length < 2) return "";
  const list = (xs: number[]) => xs.map((x) => fixed(x)).join(" / ");
  return `, medians of ${list(a)} and ${list(b)}`;
}

/**
 * A series of other UIDs than the measured one (seed `warm-up`), sent to each receiver before its measured
 * run by {@link warmUp}.
 */
export async function generateWarmUpSeries(dir: string, count: number): Promise<string[]> {
  return (await writeGeneratedSeries(dir, { count, seed: "warm-up" })).paths;
}

/**
 * Sends `files` to a DICOM receiver once with `storescu`, untimed, before its measured run: V8 compiles
 * and optimizes an agent while it works, and its first few hundred objects after a start cost about a
 * third more CPU than the next ones (bench/README.md, ingest); a site's agent runs for weeks. Throws when
 * the send fails (`logFile`: where to look).
 */
export async function warmUp(
  to: { aet: string; port: number; logFile?: string },
  files: string[],
  timeoutMs = 10 * 60_000,
): Promise<void> {
  if (files.length === 0) return;
  const out = await runDcmtk("storescu", [
    "-aet",
    "WARMUP",
    "-aec",
    to.aet,
    "127.0.0.1",
    String(to.port),
    ...files,
  ], {
    timeoutMs,
  });
  if (out.code !== 0) {
    throw new Error(
      `warm-up storescu into ${to.aet} failed: ${out.stderr.slice(-500)}` +
        (to.logFile ? ` (receiver log: ${to.logFile})` : ""),
    );
  }
}

/** Polls `check` every `pollMs` until it holds; throws "timed out: <what>" after `timeoutMs`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10 * 60_000,
  pollMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
