/**
 * Process plumbing for the peers, agents and hubs that tests start: free ports, spawning a process with
 * its output in a log file (never the test output), waiting until it is ready, and stopping it (SIGTERM,
 * then SIGKILL after 5 s; as a last resort, killed when the Deno process unloads). Imported through
 * tests/support/peers.ts.
 */
import { join } from "node:path";
import { PEER_ENV } from "./peer_tools.ts";

const STOP_GRACE_MS = 5_000;

/** Ports this process handed out lately: the kernel may offer a just-closed port again at once. */
const recentPorts: number[] = [];

/**
 * Ports are picked below the kernel's range for the source ports of outgoing connections
 * (`ip_local_port_range`): a port the kernel hands out for `bind(0)` comes from that range, and between
 * our check and the peer's own bind an outgoing connection of any parallel test could take it (a CI run
 * failed so: "Orthanc DICOM: port 38287 is not free"). Undefined where the range cannot be read.
 */
const PICK_RANGE = ((): [number, number] | undefined => {
  try {
    const [low] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/)
      .map(Number);
    return low > 11_000 ? [10_000, low - 1] : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * Ports the Fetch standard's "bad port" list blocks, which Deno's fetch refuses ("Requests to port 10080
 * are blocked"): a process given one could never be seen ready (a CI run's agent got HTTP port 10080).
 */
const FETCH_BLOCKED_PORTS = new Set([
  1,
  7,
  9,
  11,
  13,
  15,
  17,
  19,
  20,
  21,
  22,
  23,
  25,
  37,
  42,
  43,
  53,
  69,
  77,
  79,
  87,
  95,
  101,
  102,
  103,
  104,
  109,
  110,
  111,
  113,
  115,
  117,
  119,
  123,
  135,
  137,
  139,
  143,
  161,
  179,
  389,
  427,
  465,
  512,
  513,
  514,
  515,
  526,
  530,
  531,
  532,
  540,
  548,
  554,
  556,
  563,
  587,
  601,
  636,
  989,
  990,
  993,
  995,
  1719,
  1720,
  1723,
  2049,
  3659,
  4045,
  4190,
  5060,
  5061,
  6000,
  6566,
  6665,
  6666,
  6667,
  6668,
  6669,
  6679,
  6697,
  10080,
]);

/**
 * Returns a TCP port that was free on 127.0.0.1 a moment ago (bound and closed), never one of the
 * last 64 it returned (two calls in a row once gave an agent the same DICOM and HTTP port), nor one fetch
 * refuses: a random one below the ephemeral range where it is known (above), else one the kernel picks.
 */
export function freePort(): number {
  for (let attempt = 0;; attempt++) {
    const wanted = PICK_RANGE && attempt < 100
      ? PICK_RANGE[0] + Math.floor(Math.random() * (PICK_RANGE[1] - PICK_RANGE[0] + 1))
      : 0;
    let listener: Deno.Listener;
    try {
      listener = Deno.listen({ hostname: "127.0.0.1", port: wanted });
    } catch {
      continue; // taken: another one
    }
    const { port } = listener.addr as Deno.NetAddr;
    listener.close();
    if (recentPorts.includes(port) || FETCH_BLOCKED_PORTS.has(port)) continue;
    recentPorts.push(port);
    if (recentPorts.length > 64) recentPorts.shift();
    return port;
  }
}

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

async function failStart(proc: Managed, what: string): Promise<never> {
  await proc.stop();
  const tail = await logTail(proc.logFile);
  throw new Error(`${what} (log: ${proc.logFile})\n${tail}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `count` distinct ports each checked free just now: `given` ones as they are (checked, and an error when
 * taken), picked ones picked again when another process took one between the pick and the check (a CI run
 * failed so: "Orthanc DICOM: port 19924 is not free", test files run in parallel processes).
 */
export function freePorts(what: string[], given: (number | undefined)[] = []): number[] {
  for (let attempt = 0;; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < what.length; i++) {
      let port = given[i] ?? freePort();
      while (given[i] === undefined && ports.includes(port)) port = freePort();
      ports.push(port);
    }
    try {
      ports.forEach((port, i) => assertPortFree(port, what[i]));
      return ports;
    } catch (err) {
      if (given.some((g) => g !== undefined) || attempt >= 5) throw err;
    }
  }
}

/** Throws when `port` cannot be bound on 127.0.0.1 (so readiness probes cannot hit someone else). */
export function assertPortFree(port: number, what: string): void {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
  } catch (err) {
    throw new Error(`${what}: port ${port} is not free: ${err instanceof Error ? err.message : err}`);
  }
}

export async function acceptsTcp(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
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

/** Polls `ready` until true; fails (stopping the process) on exit or timeout. */
export async function waitReady(
  proc: Managed,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exited()) {
      const status = await proc.child.status;
      return await failStart(proc, `${what}: process exited with code ${status.code} before it was ready`);
    }
    if (await ready()) {
      await sleep(20);
      if (!proc.exited()) return;
      continue;
    }
    if (Date.now() > deadline) return await failStart(proc, `${what}: not ready after ${timeoutMs} ms`);
    await sleep(50);
  }
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
