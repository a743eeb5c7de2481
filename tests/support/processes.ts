/**
 * Process plumbing for the peers, agents and hubs that tests start: free ports (./ports.ts, re-exported),
 * spawning a process with its output in a log file (never the test output), waiting until it is ready (on
 * ports it listens on itself), and stopping it (SIGTERM, then SIGKILL after 5 s; as a last resort, killed when
 * the Deno process unloads). Imported through tests/support/peers.ts.
 */
import { join } from "node:path";
import { PEER_ENV } from "./peer_tools.ts";
import { ADDRESS_IN_USE, listensOn, portFree, PortTakenError } from "./ports.ts";

export * from "./ports.ts";

const STOP_GRACE_MS = 5_000;

/**
 * `deno run` flags for the agents and hubs that tests and benchmarks start from this tree: they use its
 * node_modules as it is (made by `deno install`, or by the test process itself as it starts) instead of each
 * checking and locking it again at start, which `"nodeModulesDir": "auto"` in deno.json makes every process
 * do: about 0.2 s more CPU per start here (`deno run agent/main.ts --help`: 0.60 s user+sys with `auto`,
 * 0.36 s with `manual`), and a start under load once waited 30 s for that lock.
 */
export const DENO_RUN_FLAGS: readonly string[] = ["--node-modules-dir=manual"];

/** Scratch folders of this process (an agent's or a hub's data when the test names none). */
const scratch = new Set<string>();
let scratchHooked = false;

/**
 * A new temporary folder, removed when the Deno process unloads (the end of a test file, or of a
 * benchmark): the data directories the helpers make were left behind, 78 GB of them over a day's runs
 * on one machine. Children are killed first (their unload listener is older).
 */
export async function scratchDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  scratch.add(dir);
  if (!scratchHooked) {
    scratchHooked = true;
    hookUnload();
    globalThis.addEventListener("unload", () => {
      for (const d of scratch) {
        try {
          Deno.removeSync(d, { recursive: true });
        } catch {
          // gone already
        }
      }
    });
  }
  return dir;
}

/** Children still running, killed on unload so a crashed test run leaves no peers behind. */
const live = new Set<Deno.ChildProcess>();
let unloadHooked = false;

function hookUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  globalThis.addEventListener("unload", () => {
    for (const child of live) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  });
}

let logDirPromise: Promise<string> | undefined;

/** One temp dir per Deno process for all peer logs. */
function logDir(): Promise<string> {
  logDirPromise ??= Deno.makeTempDir({ prefix: "conduit-peers-" });
  return logDirPromise;
}

let logCounter = 0;

export interface Managed {
  child: Deno.ChildProcess;
  logFile: string;
  exited: () => boolean;
  /** Resolves with the exit status once the process has ended. */
  status: Promise<Deno.CommandStatus>;
  stop(): Promise<void>;
}

async function pump(stream: ReadableStream<Uint8Array>, file: Deno.FsFile): Promise<void> {
  for await (const chunk of stream) {
    let off = 0;
    while (off < chunk.length) off += file.writeSync(chunk.subarray(off));
  }
}

/** Spawns `bin args` with output appended to a fresh log file; returns a handle that can stop it. */
export async function spawnLogged(
  label: string,
  bin: string,
  args: string[],
  cwd?: string,
  env: Record<string, string> = {},
): Promise<Managed> {
  const dir = await logDir();
  const logFile = join(dir, `${label}-${++logCounter}.log`);
  const file = await Deno.open(logFile, { write: true, create: true, append: true });
  file.writeSync(new TextEncoder().encode(`[peers] ${bin} ${args.join(" ")}\n`));
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(bin, {
      args,
      cwd,
      env: { ...PEER_ENV, ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    file.close();
    throw new Error(`cannot start ${bin}: ${err instanceof Error ? err.message : err} (log: ${logFile})`);
  }
  hookUnload();
  live.add(child);
  let hasExited = false;
  const status = child.status.then((s) => {
    hasExited = true;
    live.delete(child);
    return s;
  });
  const pumps = Promise.allSettled([pump(child.stdout, file), pump(child.stderr, file)]);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!hasExited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // exited meanwhile
        }
      }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // exited meanwhile
        }
      }, STOP_GRACE_MS);
      try {
        await status;
      } finally {
        clearTimeout(timer);
      }
      await pumps;
      file.close();
    })();
    return stopping;
  };
  return { child, logFile, exited: () => hasExited, status, stop };
}

export async function logTail(logFile: string, chars = 2000): Promise<string> {
  try {
    const text = await Deno.readTextFile(logFile);
    return text.length > chars ? `…${text.slice(-chars)}` : text;
  } catch {
    return "";
  }
}

/**
 * Stops `proc` and throws `what` with its log's tail: a {@link PortTakenError} when one of `ports` is held by
 * another process now that it is gone, or its log says a port was in use.
 */
async function failStart(proc: Managed, what: string, ports: number[] = []): Promise<never> {
  await proc.stop();
  const tail = await logTail(proc.logFile);
  const message = `${what} (log: ${proc.logFile})\n${tail}`;
  const taken = ports.filter((port) => !portFree(port));
  if (taken.length || ADDRESS_IN_USE.test(tail)) {
    const which = taken.length ? `port ${taken.join(", ")} held by another process` : "a port was in use";
    throw new PortTakenError(`${message}\n(${which})`, taken);
  }
  throw new Error(message);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A readiness check for {@link waitReady}: `url` answers with a 2xx status (or one of `also`). */
export function answersOk(url: string, also: number[] = []): () => Promise<boolean> {
  return async () => {
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      return r.ok || also.includes(r.status);
    } catch {
      return false;
    }
  };
}

/**
 * Polls `ready` until true; fails (stopping the process) on exit or timeout. `ports`: the ports the process
 * (or a child of it) must itself be listening on before `ready` is asked, so that an answer from another
 * process that holds one of them is not taken for its own; when it exits (or times out) with one of them held
 * by another process (or its log saying "address already in use"), the error is a {@link PortTakenError}.
 */
export async function waitReady(
  proc: Managed,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
  ports: number[] = [],
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const own = () => ports.every((port) => listensOn(proc.child.pid, port) !== false);
  for (;;) {
    if (proc.exited()) {
      const status = await proc.child.status;
      return await failStart(
        proc,
        `${what}: process exited with code ${status.code} before it was ready`,
        ports,
      );
    }
    if (own() && await ready()) {
      await sleep(20);
      if (!proc.exited()) return;
      continue;
    }
    if (Date.now() > deadline) {
      return await failStart(proc, `${what}: not ready after ${timeoutMs} ms`, ports);
    }
    await sleep(50);
  }
}

/**
 * Processes started at once (an agent, a hub, a peer: each about half a second of start-up, done side by side):
 * resolves with them all, in order; when one start fails, stops those that started and rejects with its error.
 */
export async function startTogether<T extends readonly { stop(): Promise<void> }[]>(
  starts: readonly [...{ [K in keyof T]: Promise<T[K]> }],
): Promise<T> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failed) {
    await Promise.all(
      settled.map((s) => s.status === "fulfilled" ? s.value.stop().catch(() => {}) : undefined),
    );
    throw failed.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/** What a process holds, from /proc (Linux): open file descriptors, of them sockets, and resident memory. */
export interface Held {
  fds: number;
  sockets: number;
  rssBytes: number;
}

/** {@link Held} for process `pid`: the leak tests compare it before and after churn. */
export function held(pid: number): Held {
  let fds = 0, sockets = 0;
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    fds++;
    try {
      if (Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`).startsWith("socket:")) sockets++;
    } catch { /* closed meanwhile */ }
  }
  const rss = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1];
  return { fds, sockets, rssBytes: Number(rss ?? 0) * 1024 };
}

/** What process `pid` holds open now: the targets of its descriptors (files, `socket:[...]`, pipes). */
export function openFiles(pid: number): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`));
    } catch { /* closed meanwhile */ }
  }
  return out;
}

/** Resident memory of process `pid` now, in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const rss = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1];
  return Number(rss ?? 0) * 1024;
}

/**
 * The highest resident memory of process `pid` (bytes) seen while `work` runs, read from /proc every 20 ms:
 * the memory tests' bound on what a burst of requests holds at once (VmHWM would keep an older peak).
 */
export async function peakRssDuring<T>(pid: number, work: Promise<T>): Promise<{ peak: number; result: T }> {
  let peak = rssBytes(pid);
  let done = false;
  const sampling = (async () => {
    while (!done) {
      peak = Math.max(peak, rssBytes(pid));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  let result: T;
  try {
    result = await work;
  } finally {
    done = true;
    await sampling;
  }
  return { peak: Math.max(peak, rssBytes(pid)), result };
}

/**
 * The TCP connections established to local `port` (IPv4), from /proc/net/tcp: the kernel completes them for
 * a process stopped with SIGSTOP too, so a test can tell that a client has sent its request.
 */
export function connectionsTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  return Deno.readTextFileSync("/proc/net/tcp").split("\n").filter((line) => {
    const f = line.trim().split(/\s+/);
    return f[1]?.endsWith(`:${hex}`) && f[3] === "01";
  }).length;
}
