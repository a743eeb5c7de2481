/**
 * The agent's budget of open file descriptors (RLIMIT_NOFILE). At the limit Deno 2.9.6 itself panicked (a
 * new thread reads /proc/self/maps and found no descriptor: stacker's assertion on errno 24), so the agent
 * keeps a reserve for files, the index and new threads, and holds no more connections than fit above it.
 */

/** Descriptors one connection may hold at once: its socket, the object it receives (intake file), and
 * the object being placed (a folder opened for its sync). */
export const PER_CONNECTION = 3;
/** Descriptors kept free for the index (its WAL sync), folder syncs, HTTP, the tunnel and new threads. */
export const RESERVE = 16;

export interface NofileLimit {
  soft: number;
  hard: number;
}

/** The soft and hard RLIMIT_NOFILE in the text of /proc/<pid>/limits (undefined when absent). */
export function parseNofile(limits: string): NofileLimit | undefined {
  const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(limits);
  if (!m) return undefined;
  const n = (v: string) => v === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(v);
  return { soft: n(m[1]), hard: n(m[2]) };
}

/** This process's RLIMIT_NOFILE (Linux), or undefined when it cannot be read. */
export function readNofile(): NofileLimit | undefined {
  try {
    return parseNofile(Deno.readTextFileSync("/proc/self/limits"));
  } catch {
    return undefined;
  }
}

/** Descriptors this process has open now (Linux), or undefined. */
export function openDescriptors(): number | undefined {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  } catch {
    return undefined;
  }
}

/**
 * Raises the soft limit to `target` (65536, as deploy/systemd sets; at most the hard one) through libc's setrlimit, when this process may
 * load libraries (`--allow-ffi`, as `-A` gives; no permission is asked for). Returns the soft limit in use
 * and why it was not raised, if not.
 */
export function raiseNofile(limit: NofileLimit, target = 65536): { soft: number; notRaised?: string } {
  const want = Math.min(target, limit.hard);
  if (want <= limit.soft) return { soft: limit.soft };
  if (Deno.build.os !== "linux") return { soft: limit.soft, notRaised: "not Linux" };
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return { soft: limit.soft, notRaised: "no --allow-ffi" };
  }
  try {
    const libc = Deno.dlopen("libc.so.6", { setrlimit: { parameters: ["i32", "buffer"], result: "i32" } });
    try {
      const rlim = new BigUint64Array([BigInt(want), BigInt(limit.hard)]);
      const RLIMIT_NOFILE = 7;
      if (libc.symbols.setrlimit(RLIMIT_NOFILE, new Uint8Array(rlim.buffer)) !== 0) {
        return { soft: limit.soft, notRaised: "setrlimit failed" };
      }
    } finally {
      libc.close();
    }
  } catch (err) {
    return { soft: limit.soft, notRaised: (err as Error).message };
  }
  return { soft: readNofile()?.soft ?? want };
}

/** Connections that fit in `soft` descriptors with `baseline` open already and the reserve kept free. */
export function connectionsThatFit(soft: number, baseline: number): number {
  return Math.max(1, Math.floor((soft - baseline - RESERVE) / PER_CONNECTION));
}

/**
 * The connections the DICOM ports may hold, from the soft limit (read again at each connection, a small read
 * of /proc/self/limits: `prlimit` may change it while the agent runs) and the descriptors the agent held once
 * started (`measure`).
 */
export class DescriptorBudget {
  #soft: number;
  #baseline: number;
  /** What start found and did: the limits, and why the soft one was not raised, if it was not. */
  readonly start: { soft: number; hard: number; notRaised?: string } | undefined;

  constructor() {
    const limit = readNofile();
    if (limit) {
      const raised = raiseNofile(limit);
      this.start = { soft: raised.soft, hard: limit.hard, notRaised: raised.notRaised };
    }
    this.#soft = this.start?.soft ?? Number.MAX_SAFE_INTEGER;
    this.#baseline = openDescriptors() ?? 0;
  }

  /** Takes what the agent holds now (started: index, listeners, HTTP, tunnel) as its baseline. */
  measure(): void {
    this.#baseline = openDescriptors() ?? this.#baseline;
  }

  get soft(): number {
    return this.#soft;
  }

  /** Connections (associated or not) the DICOM ports may hold at once; more are closed at once. */
  connections(): number {
    if (this.start) this.#soft = readNofile()?.soft ?? this.#soft; // unreadable (at the limit): as it was
    return connectionsThatFit(this.#soft, this.#baseline);
  }

  /** Associations that may be open at once: the rest of the connections only get a reject. */
  associations(): number {
    return Math.max(1, this.connections() - 2);
  }
}
