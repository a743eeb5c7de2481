/**
 * Ports for the processes tests start: free ones drawn for them (freePort), and the proof that a process
 * listens on them itself (listensOn, from /proc): a port is free only until something binds it, and test
 * files run in parallel (in one `deno test` process, and in other runs on the machine) may draw the same one:
 * freePort notes what it draws where they all see it (CLAIMS), and the starters start again on fresh ports
 * when one is taken first all the same (onFreePorts). Imported through
 * tests/support/processes.ts.
 */
import { pidsListenOn } from "../../agent/check/listening.ts";

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
 * Where freePort() notes the ports it hands out (a file per port, its mtime the time drawn), machine-wide: the
 * test files of one `deno test` run share one process (each in an isolate of its own, with its own
 * `recentPorts`), and other runs share the machine, so neither the pid nor module state can keep them apart.
 * A port noted less than {@link CLAIM_MS} ago by anyone is not handed out again. Undefined where the folder
 * cannot be made (then every port is handed out as before, and the starters' retries remain).
 */
const CLAIMS = (() => {
  const dir = "/dev/shm/conduit-test-ports";
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o1777 });
    return dir;
  } catch {
    return undefined;
  }
})();

/** How long a drawn port stays noted: longer than any process takes to start and bind it. */
const CLAIM_MS = 120_000;

/** The claim files of this isolate, removed when it unloads. */
const claimed = new Set<string>();
let unloadHooked = false;

/**
 * Notes `port` as drawn; false when another isolate or process noted it less than {@link CLAIM_MS} ago.
 * Two that find one stale at once may both take it: rare, and the starters' retries handle it.
 */
function claim(port: number): boolean {
  if (!CLAIMS) return true;
  const file = `${CLAIMS}/${port}`;
  try {
    Deno.writeTextFileSync(file, `${Deno.pid}\n`, { createNew: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) return true; // cannot tell: as without notes
    try {
      if (Date.now() - (Deno.statSync(file).mtime?.getTime() ?? 0) < CLAIM_MS) return false;
      Deno.writeTextFileSync(file, `${Deno.pid}\n`); // stale: taken over, its mtime now
    } catch {
      return true;
    }
  }
  if (!unloadHooked) {
    unloadHooked = true;
    globalThis.addEventListener("unload", releaseClaims);
  }
  claimed.add(file);
  return true;
}

/**
 * Removes the notes of the ports this isolate drew: when it unloads (the end of a test file), or before a
 * worker, which gets no unload event, closes.
 */
export function releaseClaims(): void {
  for (const file of claimed) {
    try {
      Deno.removeSync(file);
    } catch { /* gone */ }
  }
  claimed.clear();
}

/**
 * Returns a TCP port that was free on 127.0.0.1 a moment ago (bound and closed), never one of the
 * last 64 it returned (two calls in a row once gave an agent the same DICOM and HTTP port), nor one another
 * test file drew lately ({@link CLAIMS}), nor one fetch refuses: a random one below the ephemeral range where
 * it is known (above), else one the kernel picks.
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
    if (recentPorts.includes(port) || FETCH_BLOCKED_PORTS.has(port) || !claim(port)) continue;
    recentPorts.push(port);
    if (recentPorts.length > 64) recentPorts.shift();
    return port;
  }
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
  if (!portFree(port)) throw new Error(`${what}: port ${port} is not free`);
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

/**
 * A process ended before it was ready because a port it was to listen on was taken by the time it bound it
 * (another test file's process drew the same free port and bound it first). `ports`: those now held by
 * another process, empty when only its log said so.
 */
export class PortTakenError extends Error {
  override name = "PortTakenError";
  constructor(message: string, readonly ports: number[], options?: ErrorOptions) {
    super(message, options);
  }
}

/** What a process's log says when it could not bind a port (the agent, the hub, DCMTK, Orthanc, Prometheus, PostgreSQL). */
export const ADDRESS_IN_USE = /address already in use|EADDRINUSE|address in use/i;

/** How many times {@link onFreePorts} starts a process on fresh ports before it gives up. */
const PORT_ATTEMPTS = 4;

let portsDrawn: ((ports: number[]) => void) | undefined;

/**
 * Has `hook` called with the ports {@link onFreePorts} drew, before it starts anything on them (undefined: no
 * more): how ports_test.ts takes one first, as a test file running in parallel may.
 */
export function onPortsDrawn(hook: ((ports: number[]) => void) | undefined): void {
  portsDrawn = hook;
}

/**
 * Starts a process on ports named by `what` (`given` ones as they are, the others drawn by freePort) with
 * `start`, and again on freshly drawn ones, up to 4 times in all, while it fails with a
 * {@link PortTakenError} for drawn ports: a test file running in parallel drew the same port (freePort's
 * check cannot hold it) and bound it first. A given port that is taken fails at once.
 */
export async function onFreePorts<T>(
  what: string[],
  given: (number | undefined)[],
  start: (ports: number[]) => Promise<T>,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    const ports = freePorts(what, given);
    portsDrawn?.(ports);
    try {
      return await start(ports);
    } catch (err) {
      const drawn = ports.filter((_, i) => given[i] === undefined);
      const retry = err instanceof PortTakenError && attempt < PORT_ATTEMPTS && drawn.length > 0 &&
        err.ports.every((port) => drawn.includes(port));
      if (!retry) throw err;
    }
  }
}

/** Whether `port` can be bound on 127.0.0.1 now. */
export function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** `pid` and the processes it started, and theirs (a launcher script's runtime, say). */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const task of Deno.readDirSync(`/proc/${out[i]}/task`)) {
        const children = Deno.readTextFileSync(`/proc/${out[i]}/task/${task.name}/children`).trim();
        if (children) out.push(...children.split(/\s+/).map(Number));
      }
    } catch { /* gone, or no /proc */ }
  }
  return out;
}

/**
 * Whether process `pid` (or a process it started) is itself listening on TCP `port`: an answer on the port
 * alone may come from another test file's process that drew the same free port. Undefined where /proc
 * cannot tell (not Linux).
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  return pidsListenOn(processTree(pid), port);
}
