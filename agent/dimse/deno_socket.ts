/**
 * The subset of a Node `net.Socket` that dcmjs-dimse and our network code use, over Deno's own TCP
 * connection. Deno's `node:net` emulation allocates receive buffers that V8's collector does not see,
 * so a fast sender grew the agent by hundreds of megabytes (a plain node:net server that discards
 * 800 MB peaked at 400 MB RSS); here every received chunk is an ordinary V8 buffer (from a pool of
 * buffers used again once `reuseReads` is on: read_buffers.ts), reads stop while the socket is paused,
 * and writes are queued with a drain signal.
 */
import { EventEmitter } from "node:events";
import { BufferPool, Lease, receiveSpares } from "./read_buffers.ts";

const READ_SIZE = 256 * 1024;
/** Free receive buffers a connection keeps for its next reads (with `reuseReads`). */
const READS_KEPT = 8;

/**
 * What the DIMSE layer (and dcmjs-dimse) needs of a connection: the subset of a Node `net.Socket` that
 * DenoSocket implements over Deno's TCP, and that a `node:tls` TLSSocket has as it is (tls.ts).
 */
export interface WireSocket extends EventEmitter {
  readonly destroyed: boolean;
  readonly writableLength: number;
  remoteAddress?: string;
  write(data: Uint8Array | string, cb?: (err?: Error | null) => void): boolean;
  end(data?: Uint8Array): this;
  destroy(err?: Error): this;
  destroySoon(): void;
  pause(): this;
  resume(): this;
  isPaused(): boolean;
  setNoDelay(noDelay?: boolean): this;
  setTimeout(ms: number): this;
  /**
   * From now on, read into buffers used again (read_buffers.ts): each `data` event then carries the
   * Lease of its buffer, and whoever keeps the bytes past the event holds it. Only for a reader that
   * honours that (our PDU reader); sockets without it (`node:tls`) do not have the method.
   */
  reuseReads?(): void;
}
const WRITE_HIGH_WATER = 1 << 20;

export class DenoSocket extends EventEmitter implements WireSocket {
  #conn: Deno.TcpConn | undefined;
  #paused = false;
  #resume: (() => void) | undefined;
  #writing: Promise<void> = Promise.resolve();
  #pendingBytes = 0;
  #ending = false;
  #closed = false;
  #timeoutMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * When the socket last read or wrote, for the idle timeout: on the monotonic clock (performance.now()), so a
   * step of the wall clock neither aborts an association early nor keeps an idle one an hour longer.
   */
  #activeAt = 0;
  /** The idle timeout fired and no activity came since (the timer is armed again by the next). */
  #timedOut = false;
  #pool: BufferPool | undefined;
  #bytesRead = 0;
  remoteAddress: string | undefined;
  remotePort: number | undefined;

  /** Wraps an accepted connection. */
  static accepted(conn: Deno.TcpConn): DenoSocket {
    const s = new DenoSocket();
    s.#attach(conn);
    return s;
  }

  /** Connects; emits `connect` (or `error` then `close`). */
  static connect(host: string, port: number): DenoSocket {
    const s = new DenoSocket();
    Deno.connect({ hostname: host, port }).then(
      (conn) => {
        if (s.#closed) {
          conn.close();
          return;
        }
        s.#attach(conn);
        s.emit("connect");
      },
      (err) => s.#fail(err),
    );
    return s;
  }

  #attach(conn: Deno.TcpConn): void {
    this.#conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remoteAddress = addr.hostname;
    this.remotePort = addr.port;
    try {
      conn.setNoDelay(true);
    } catch { /* closed already */ }
    this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    const conn = this.#conn!;
    try {
      // Nothing but this loop holds `buf` between reads (what a read handed on was copied or replaced).
      let buf: Uint8Array | undefined = receiveSpares.take(READ_SIZE) ?? new Uint8Array(READ_SIZE);
      for (;;) {
        if (this.#paused) await new Promise<void>((r) => (this.#resume = r));
        if (this.#closed) return;
        const pool = this.#pool;
        if (pool) {
          if (buf) {
            pool.give(buf);
            buf = undefined;
          }
          // Reused buffers: nothing to collect, so no collection is asked for.
          const bytes = pool.take();
          const n = await conn.read(bytes);
          // Destroyed while the read was under way: what it brought is not handed on (the reader has
          // let go of the stream, and would take these bytes for the start of a PDU).
          if (this.#closed) return pool.give(bytes);
          if (n === null) break;
          this.#bytesRead += n;
          this.#touch();
          const lease = new Lease(bytes, pool);
          const release = lease.hold();
          try {
            this.emit("data", Buffer.from(bytes.buffer, bytes.byteOffset, n), lease);
          } finally {
            release();
          }
          continue;
        }
        buf ??= new Uint8Array(READ_SIZE);
        const n = await conn.read(buf);
        if (this.#closed) return;
        if (n === null) break;
        this.#bytesRead += n;
        this.#touch();
        if (n < READ_SIZE / 4) {
          // A small read (a response, a command) is copied out and the buffer read into again: handed
          // on as a view, each kept a whole 256 KiB buffer alive for as long as anything held the
          // message (an SCU kept 0.26 MB per object sent over a long association).
          this.emit("data", Buffer.from(buf.subarray(0, n)));
        } else {
          this.emit("data", Buffer.from(buf.buffer, buf.byteOffset, n));
          buf = new Uint8Array(READ_SIZE);
        }
        collectEvery(n);
      }
      this.emit("end");
      this.#close();
    } catch (err) {
      if (!this.#closed) this.#fail(err as Error);
    }
  }

  reuseReads(): void {
    this.#pool ??= new BufferPool(READ_SIZE, READS_KEPT, receiveSpares);
  }

  /**
   * Activity: the idle timer is not re-armed here (a clear and a new timer on every read and write cost
   * about 3 % of the event loop while forwarding, issue 16); the one timer, when it fires, looks at when
   * the socket was last active and either emits `timeout` or waits for the rest of the period.
   */
  #touch(): void {
    this.#activeAt = performance.now();
    // After a timeout the socket is watched again from its next activity on, as a Node socket is.
    if (this.#timedOut) {
      this.#timedOut = false;
      this.#armTimer(this.#timeoutMs);
    }
  }

  #armTimer(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timedOut = false;
    if (!this.#timeoutMs || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const idle = performance.now() - this.#activeAt;
      if (idle < this.#timeoutMs) return this.#armTimer(this.#timeoutMs - idle);
      this.#timedOut = true;
      this.emit("timeout");
    }, ms);
  }

  get destroyed(): boolean {
    return this.#closed;
  }

  /** Bytes received so far (as a Node socket's `bytesRead`). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  get writableLength(): number {
    return this.#pendingBytes;
  }

  setNoDelay(_on = true): this {
    try {
      this.#conn?.setNoDelay(true);
    } catch { /* closed */ }
    return this;
  }

  setTimeout(ms: number): this {
    this.#timeoutMs = ms;
    this.#touch();
    this.#armTimer(ms);
    return this;
  }

  pause(): this {
    this.#paused = true;
    return this;
  }

  resume(): this {
    this.#paused = false;
    this.#resume?.();
    this.#resume = undefined;
    return this;
  }

  isPaused(): boolean {
    return this.#paused;
  }

  /** Queues bytes; false when more than 1 MiB waits (then `drain` follows). */
  write(data: Uint8Array | string, cb?: (err?: Error) => void): boolean {
    if (this.#closed || this.#ending) {
      const err = new Error("write after end");
      queueMicrotask(() => cb?.(err));
      return false;
    }
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    this.#pendingBytes += bytes.length;
    const wasBelow = this.#pendingBytes - bytes.length < WRITE_HIGH_WATER;
    this.#writing = this.#writing.then(async () => {
      if (this.#closed || !this.#conn) return;
      try {
        let at = 0;
        while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
        this.#touch();
        cb?.();
      } catch (err) {
        cb?.(err as Error);
        this.#fail(err as Error);
      } finally {
        const before = this.#pendingBytes;
        this.#pendingBytes -= bytes.length;
        if (before >= WRITE_HIGH_WATER && this.#pendingBytes < WRITE_HIGH_WATER) this.emit("drain");
      }
    });
    return wasBelow && this.#pendingBytes < WRITE_HIGH_WATER;
  }

  /** Closes after what is queued has been written. */
  end(data?: Uint8Array): this {
    if (data) this.write(data);
    if (this.#ending || this.#closed) return this;
    this.#ending = true;
    this.#writing.then(() => this.#close());
    return this;
  }

  destroySoon(): void {
    this.end();
  }

  destroy(err?: Error): this {
    if (err) this.#fail(err);
    else this.#close();
    return this;
  }

  #fail(err: Error): void {
    if (this.#closed) return;
    if (this.listenerCount("error") > 0) this.emit("error", err);
    this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#pool?.close();
    this.#resume?.();
    try {
      this.#conn?.close();
    } catch { /* already closed */ }
    queueMicrotask(() => this.emit("close", false));
  }
}

/** What the accept loop tells of a run of failed accepts (EMFILE: the process is out of descriptors). */
export interface AcceptHooks {
  /** The first accept of a run failed (`EMFILE`, or the error's message); it is tried again shortly. */
  onAcceptFailing?(reason: string): void;
  /** An accept succeeded again after `failures` failed ones. */
  onAcceptResumed?(failures: number): void;
}

/** The longest wait between two tries of an accept that keeps failing. */
const ACCEPT_RETRY_MAX_MS = 1000;

/**
 * Accepts connections on Deno's listener and hands each one over as a DenoSocket. An accept that fails
 * (EMFILE or ENFILE: no descriptor for the connection) is tried again, after 5 ms, then twice as long
 * each time up to 1 s: the connection waits in the listen backlog until a descriptor is free. (A failed
 * accept used to end the loop: the port stayed bound and answered no one again.)
 */
export function listen(
  options: { hostname: string; port: number },
  onConnection: (socket: DenoSocket) => void,
  hooks: AcceptHooks = {},
): { port: number; close(): void } {
  const listener = Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" });
  let closed = false;
  (async () => {
    let failures = 0;
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (err) {
        if (closed || err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) {
          return;
        }
        if (failures++ === 0) {
          try {
            hooks.onAcceptFailing?.((err as { code?: string }).code ?? (err as Error).message);
          } catch { /* a hook never ends the loop */ }
        }
        await new Promise((r) =>
          setTimeout(r, Math.min(5 * 2 ** Math.min(failures - 1, 8), ACCEPT_RETRY_MAX_MS))
        );
        continue;
      }
      if (failures > 0) {
        try {
          hooks.onAcceptResumed?.(failures);
        } catch { /* a hook never ends the loop */ }
        failures = 0;
      }
      try {
        onConnection(DenoSocket.accepted(conn as Deno.TcpConn));
      } catch {
        try {
          conn.close();
        } catch { /* closed */ }
      }
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close: () => {
      closed = true;
      try {
        listener.close();
      } catch { /* closed */ }
    },
  };
}

// deno-lint-ignore no-explicit-any
const gc = (globalThis as any).gc as
  | ((options?: { type: "minor" | "major"; execution?: "sync"; flavor?: "last-resort" }) => void)
  | undefined;
const MINOR_EVERY = 4 * 1024 * 1024;
const MAJOR_EVERY = 64 * 1024 * 1024;
let sinceMinor = 0;
let sinceMajor = 0;
/**
 * For receive buffers that are not used again (DICOM over TLS, whose buffers `node:tls` allocates; the
 * first reads of a connection, before its PDU reader takes over with `reuseReads`): with
 * `--v8-flags=--expose-gc` (as `deno task agent` runs), spent buffers are collected ahead of V8's own
 * schedule, which lets them pile up: a young-generation collection (scavenge, well under a millisecond)
 * every 4 MiB received frees those that died young, and a full one every 64 MiB those that lived
 * through a scavenge while queued. (Counting sent bytes too cost the transfer benchmark about a fifth
 * of its rate, for no gain in peak memory.) Peak RSS receiving a 200 MB object (issue 16, 2026-12-03,
 * before buffers were used again): 146 MB with only a full collection every 16 MiB, 128-130 MB with
 * these. Without the flag nothing happens here.
 */
export function collectEvery(bytes: number): void {
  if (!gc) return;
  sinceMinor += bytes;
  sinceMajor += bytes;
  if (sinceMajor >= MAJOR_EVERY) {
    sinceMajor = 0;
    sinceMinor = 0;
    gc();
  } else if (sinceMinor >= MINOR_EVERY) {
    sinceMinor = 0;
    gc({ type: "minor" });
  }
}

/**
 * With `--expose-gc`: a full, compacting collection that gives back the heap pages it frees (V8's
 * "last resort" collection, what its memory reducer runs when a browser tab goes idle; Deno never asks
 * for it). For when the agent falls idle: after start-up, and once no association has been open for a
 * couple of seconds. About 3 MB less RSS idle (issue 16); a few tens of ms of CPU.
 */
export function releaseMemory(): void {
  gc?.({ type: "major", execution: "sync", flavor: "last-resort" });
}
