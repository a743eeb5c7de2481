/**
 * `deno task bench runtime`: what this runtime's least C-STORE receiver does against `storescp`, beside the
 * agent without sync: what lies under issue 16's `sync: false` target. Three receivers, none syncing, each
 * on a fresh directory and freshly started, three rounds interleaved, the same 500 generated CT objects
 * over one `storescu` association after 300 others (warm-up):
 *
 * - `storescp --bit-preserving --max-pdu 131072` (the target's reference);
 * - `bench/_least_scp.ts`: a C-STORE SCP in Deno with nothing but the PDUs, one blocking write per
 *   fragment into a new file and the response (no checks, no index, no library);
 * - the agent with `dimse.sync: false` (index and queue still committed, every check made).
 *
 * The ratio deno-least / storescp bounds what any receiver on this runtime reaches here; agent /
 * deno-least is what the agent's own work costs on top.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { RECEIVERS, type RunningReceiver, SERIES_TIMEOUT_MS, warmReceiver } from "./_ingest_receivers.ts";
import { runDcmtk } from "../tests/support/peers.ts";
import {
  countFiles,
  fixed,
  generateCtSeries,
  generateWarmUpSeries,
  median,
  processTicks,
  syncDisks,
  ticksPerSecond,
} from "./_shared.ts";

const FULL = { files: 500, rounds: 3, warmup: 300 };
const QUICK = { files: 100, rounds: 1, warmup: 50 };
const LEAST_SCP = fileURLToPath(new URL("./_least_scp.ts", import.meta.url));

/** Starts `_least_scp.ts` writing into `dir`; resolves once it listens. */
async function startLeastScp(dir: string): Promise<RunningReceiver> {
  await Deno.mkdir(dir, { recursive: true });
  const logFile = `${dir}.log`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-lock", LEAST_SCP, "--port", "0", "--dir", dir],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  child.stderr.pipeTo((await Deno.open(logFile, { write: true, create: true })).writable).catch(() => {});
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/listening (\d+)/.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`_least_scp.ts ended before listening: ${seen}`);
    seen += value;
  }
  reader.cancel().catch(() => {});
  const port = Number(/listening (\d+)/.exec(seen)![1]);
  return {
    pid: child.pid,
    port,
    aet: "LEAST",
    logFile,
    stored: () => countFiles(dir),
    stop: async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // ended
      }
      await child.status;
    },
  };
}

interface Run {
  receiver: string;
  round: number;
  filesPerSecond: number;
  cpuUs: number;
  sysUs: number;
  stored: number;
}

export const runtime: Benchmark = {
  name: "runtime",
  description: "a minimal Deno C-STORE SCP against storescp and the agent without sync (issue 16)",
  async run(opts: BenchOptions): Promise<BenchResult> {
    const size = opts.quick ? QUICK : FULL;
    const hz = await ticksPerSecond();
    const series = await generateCtSeries(path.join(opts.workDir, "series"), size.files, opts.log);
    const warm = await generateWarmUpSeries(path.join(opts.workDir, "warm"), size.warmup);
    const receivers: { name: string; start(dir: string): Promise<RunningReceiver> }[] = [
      RECEIVERS.find((r) => r.name === "storescp-131072")!,
      { name: "deno-least", start: startLeastScp },
      RECEIVERS.find((r) => r.name === "agent-nosync")!,
    ];
    const runs: Run[] = [];
    const notes: string[] = [];
    for (let round = 1; round <= size.rounds; round++) {
      for (const r of receivers) {
        const dir = path.join(opts.workDir, `${r.name}-${round}`);
        const peer = await r.start(dir);
        try {
          const before = await warmReceiver(peer, warm);
          await syncDisks();
          const c0 = processTicks(peer.pid);
          const t0 = performance.now();
          const out = await runDcmtk("storescu", [
            "-aet",
            "BENCH",
            "-aec",
            peer.aet,
            "127.0.0.1",
            String(peer.port),
            ...series.paths,
          ], { timeoutMs: SERIES_TIMEOUT_MS });
          const seconds = (performance.now() - t0) / 1000;
          const c1 = processTicks(peer.pid);
          if (out.code !== 0) {
            notes.push(`${r.name} round ${round}: storescu exit ${out.code}: ${out.stderr.slice(-300)}`);
          }
          const stored = (await peer.stored()) - before;
          const run: Run = {
            receiver: r.name,
            round,
            filesPerSecond: size.files / seconds,
            cpuUs: (c1.own - c0.own) / hz * 1e6 / size.files,
            sysUs: (c1.sys - c0.sys) / hz * 1e6 / size.files,
            stored,
          };
          if (stored !== size.files) {
            notes.push(`${r.name} round ${round}: stored ${stored} of ${size.files}`);
          }
          runs.push(run);
          opts.log(
            `${r.name} round ${round}: ${fixed(run.filesPerSecond)} files/s, CPU ${
              fixed(run.cpuUs)
            } µs/object ` +
              `(kernel ${fixed(run.sysUs)})`,
          );
        } finally {
          await peer.stop();
        }
      }
    }
    const of = (name: string) => runs.filter((r) => r.receiver === name);
    const med = (name: string, key: "filesPerSecond" | "cpuUs" | "sysUs") =>
      median(of(name).map((r) => r[key]));
    const rows = receivers.map((r) => [
      r.name,
      of(r.name).map((x) => fixed(x.filesPerSecond)).join(" / "),
      fixed(med(r.name, "filesPerSecond")),
      fixed(med(r.name, "cpuUs")),
      fixed(med(r.name, "sysUs")),
    ]);
    const ratio = (a: string, b: string) => med(a, "filesPerSecond") / med(b, "filesPerSecond");
    return {
      tables: [{
        title: `${size.files} CT objects (0.526 MB) over one association, no receiver syncs`,
        columns: ["receiver", "files/s per round", "median files/s", "CPU µs/object", "of it kernel"],
        rows,
      }, {
        title: "ratios of the medians",
        columns: ["ratio", "value"],
        rows: [
          ["deno-least / storescp-131072", `${fixed(ratio("deno-least", "storescp-131072"), 2)}×`],
          ["agent-nosync / storescp-131072", `${fixed(ratio("agent-nosync", "storescp-131072"), 2)}×`],
          ["agent-nosync / deno-least", `${fixed(ratio("agent-nosync", "deno-least"), 2)}×`],
        ],
      }],
      targets: [],
      notes,
      data: { runs },
    };
  },
};
