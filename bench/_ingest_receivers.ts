/** The ingest benchmark's receivers and the ways it drives them (bench/ingest.ts). */
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

import { type ReceiverName } from "./_ingest_report.ts";
import { ORTHANC_BIN, runDcmtk, skipReason, startOrthanc, startStorescp } from "../tests/support/peers.ts";
import { listFiles, startAgentProcess } from "../tests/support/agent.ts";
import { countFiles, syncDisks, warmUp } from "./_shared.ts";

/** Generous limit: a stalled receiver should fail the run, not hang it. */
export const SERIES_TIMEOUT_MS = 15 * 60_000;
const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
const GENERATE_SCRIPT = fileURLToPath(new URL("../tests/tools/generate.ts", import.meta.url));

/** A receiver started for one run. */
export interface RunningReceiver {
  pid: number;
  port: number;
  aet: string;
  logFile: string;
  /** How many objects it holds now. */
  stored(): Promise<number>;
  stop(): Promise<void>;
}

export interface Receiver {
  name: ReceiverName;
  /** How it is run, for the notes. */
  setup: string;
  /** Why it cannot run here, or false. */
  missing(): string | false;
  /** The measured objects are sent once before, untimed: the run measures a resend (nothing new). */
  resend?: boolean;
  start(dir: string): Promise<RunningReceiver>;
}

export async function startAgentReceiver(
  dir: string,
  config: Record<string, unknown>,
): Promise<RunningReceiver> {
  const agent = await startAgentProcess({ dataDir: dir, config, lockfile: true });
  return {
    pid: agent.pid,
    port: agent.port,
    aet: agent.aet,
    logFile: agent.logFile,
    stored: async () =>
      (await listFiles(path.join(dir, "archive")).catch(() => [])).filter((f) => f.endsWith(".dcm")).length,
    stop: agent.stop,
  };
}

export const RECEIVERS: Receiver[] = [
  {
    name: "agent",
    setup: "agent/main.ts as shipped: default config, fsync of file, directory and index before Success",
    missing: () => false,
    start: (dir) => startAgentReceiver(dir, {}),
  },
  {
    name: "agent-nosync",
    setup: "the agent with dimse.sync: false (no fsync, like storescp; index still committed)",
    missing: () => false,
    start: (dir) => startAgentReceiver(dir, { dimse: { sync: false } }),
  },
  {
    name: "storescp",
    setup: "DCMTK storescp --bit-preserving to disk (no fsync), default max PDU",
    missing: () => skipReason("storescp"),
    start: async (dir) => {
      const peer = await startStorescp({ dir, bitPreserving: true });
      return { ...peer, stored: () => countFiles(dir) };
    },
  },
  {
    name: "storescp-131072",
    setup: "DCMTK storescp --bit-preserving --max-pdu 131072 (no fsync): the agent's PDU size class",
    missing: () => skipReason("storescp"),
    start: async (dir) => {
      const peer = await startStorescp({ dir, bitPreserving: true, extraArgs: ["--max-pdu", "131072"] });
      return { ...peer, stored: () => countFiles(dir) };
    },
  },
  {
    name: "orthanc",
    setup: "Orthanc (SQLite index, no storage compression), config of tests/support/peers.ts",
    missing: () => skipReason(ORTHANC_BIN),
    start: async (dir) => {
      const peer = await startOrthanc({ storageDir: dir });
      return {
        pid: peer.pid,
        port: peer.port,
        aet: peer.aet,
        logFile: peer.logFile,
        stored: async () => {
          const res = await peer.rest("/statistics");
          if (!res.ok) {
            await res.body?.cancel();
            return -1;
          }
          return ((await res.json()) as { CountInstances: number }).CountInstances;
        },
        stop: peer.stop,
      };
    },
  },
];

/** The same receivers measuring a resend: the series sent once untimed, then again. */
RECEIVERS.push(
  ...(["agent", "storescp", "orthanc"] as const).map((name): Receiver => {
    const of = RECEIVERS.find((r) => r.name === name)!;
    return {
      ...of,
      name: `${name}-resend`,
      setup: `${name}, the measured series received once before (untimed), then again`,
      resend: true,
    };
  }),
);

/** Receivers of the 4-association runs (issue 16): the agent as shipped, and storescp forking per association. */
export const PARALLEL_RECEIVERS: Receiver[] = [
  RECEIVERS[0],
  {
    name: "storescp-fork",
    setup: "DCMTK storescp --bit-preserving --fork (one process per association, no fsync)",
    missing: () => skipReason("storescp"),
    start: async (dir) => {
      const peer = await startStorescp({ dir, bitPreserving: true, extraArgs: ["--fork"] });
      return { ...peer, stored: () => countFiles(dir) };
    },
  },
];

/**
 * The durable-write floor of this disk (issue 16): for each file, write its bytes to a new file, fdatasync
 * it, rename it and fsync the folder, one after another, as a receiver that syncs each object before
 * answering must at least do. Resolves with the wall time in ms.
 */
export async function syncLoop(files: string[], dir: string): Promise<number> {
  await Deno.mkdir(dir, { recursive: true });
  const contents = await Promise.all(files.map((f) => Deno.readFile(f)));
  await syncDisks();
  const t0 = performance.now();
  for (let i = 0; i < contents.length; i++) {
    const part = path.join(dir, `${i}.part`);
    const file = fs.openSync(part, "wx");
    try {
      fs.writeSync(file, contents[i]);
      fs.fdatasyncSync(file);
    } finally {
      fs.closeSync(file);
    }
    fs.renameSync(part, path.join(dir, `${i}.dcm`));
    const d = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(d);
    } finally {
      fs.closeSync(d);
    }
  }
  const ms = performance.now() - t0;
  await Deno.remove(dir, { recursive: true });
  return ms;
}

/**
 * The warm-up ({@link warmUp} in _shared.ts) for any receiver; resolves with what it then holds, which the
 * measured run's count starts from.
 */
export async function warmReceiver(peer: RunningReceiver, files: string[]): Promise<number> {
  if (files.length === 0) return 0;
  await warmUp(peer, files, SERIES_TIMEOUT_MS);
  return await peer.stored();
}

/** One receiver, `associations` storescu processes at once, each sending its share of `files`. */
export async function runParallel(
  receiver: Receiver,
  dir: string,
  files: string[],
  associations: number,
  log: (message: string) => void,
  warmup: string[] = [],
): Promise<{ receiver: ReceiverName; wallMs: number; filesPerSecond: number; problem?: string }> {
  await syncDisks();
  const peer = await receiver.start(dir);
  try {
    const base = await warmReceiver(peer, warmup);
    await syncDisks();
    const shares = Array.from(
      { length: associations },
      (_, i) => files.filter((_, j) => j % associations === i),
    );
    const t0 = performance.now();
    const outs = await Promise.all(
      shares.map((share) =>
        runDcmtk("storescu", ["-aet", "BENCH", "-aec", peer.aet, "127.0.0.1", String(peer.port), ...share], {
          timeoutMs: SERIES_TIMEOUT_MS,
        })
      ),
    );
    const wallMs = performance.now() - t0;
    const stored = await peer.stored() - base;
    const failed = outs.filter((o) => o.code !== 0).length;
    const problem = failed || stored !== files.length
      ? `${failed} storescu failed, ${stored} of ${files.length} stored (receiver log: ${peer.logFile})`
      : undefined;
    const filesPerSecond = files.length / (wallMs / 1000);
    log(
      `${receiver.name}, ${associations} associations: ${files.length} files in ${
        (wallMs / 1000).toFixed(2)
      } s = ` +
        `${filesPerSecond.toFixed(0)} files/s` + (problem ? ` — ${problem}` : ""),
    );
    return { receiver: receiver.name, wallMs, filesPerSecond, problem };
  } finally {
    await peer.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Load average (1, 5, 15 minutes) as /proc/loadavg gives it. */
export async function loadAverage(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
}

/**
 * Writes one object of `pixelBytes` with tests/tools/generate.ts in a child process: the chunked writer
 * allocates faster than V8 collects, which would lift this process's own peak RSS by about 100 MB.
 */
export async function generateInSubprocess(
  dir: string,
  pixelBytes: number,
  seed: string,
): Promise<{ bytes: number; paths: string[] }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      GENERATE_SCRIPT,
      "--out",
      dir,
      "--count",
      "1",
      "--pixel-bytes",
      String(pixelBytes),
      "--seed",
      seed,
    ],
    cwd: REPO_ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`generate.ts failed: ${text.decode(out.stderr).trim()}`);
  const summary = JSON.parse(text.decode(out.stdout).trim().split("\n").at(-1)!) as { bytes: number };
  return { bytes: summary.bytes, paths: [path.join(dir, "1.dcm")] };
}

// ---------------------------------------------------------------------------------------------------
// One run
