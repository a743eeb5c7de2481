/**
 * The DICOM ports' connections (plain and TLS together) against the descriptor budget (agent/descriptors.ts),
 * and the connections that send nothing.
 *
 * `dimse.maxAssociations` counts associations (scp.ts), but every open socket holds descriptors, so the budget
 * bounds connections from their accept on. A connection that has sent no byte yet is silent: a port scanner,
 * a load balancer's check that opens and waits, or a peer already gone whose FIN waited in the listen backlog.
 * Every DICOM requester (and every TLS client) sends at once after its connect (loopback: DCMTK's A-ASSOCIATE-RQ
 * came within a millisecond), so:
 * - a connection silent for `firstByteMs` is closed (before ARTIM, which still bounds one that sent something);
 * - when the budget is full, a new connection takes the place of the oldest silent one, rather than being closed
 *   at once while the silent ones wait out their timer. A live requester is silent for well under a
 *   millisecond, so only a burst of more new connections than the budget holds in that time displaces it.
 * With no silent connection to close, a new one beyond the budget is refused (closed at once), as before.
 */

/** What the gate needs of a connection: its TCP socket (under TLS, the raw one), plain or TLS. */
export interface GatedSocket {
  /** Bytes received so far: 0 while silent. */
  readonly bytesRead: number;
  readonly destroyed: boolean;
  remoteAddress?: string;
  destroy(): void;
  once(event: "close", listener: () => void): unknown;
}

/** Why the gate closed a silent connection. */
export type SilentClose = "first-byte timeout" | "room for a new connection";

export interface GateOptions {
  /** Connections both ports may hold at once (the descriptor budget); unbounded without it. */
  limit?: () => number;
  /** How long a connection may send nothing before it is closed. */
  firstByteMs: number;
  /** Called when the gate closes a silent connection (a hook that throws is ignored). */
  onSilentClosed?: (socket: GatedSocket, port: string, why: SilentClose) => void;
}

export class ConnectionGate {
  #options: GateOptions;
  /** The connections held, oldest first, with their port and first-byte timer. */
  #open = new Map<GatedSocket, { port: string; timer: ReturnType<typeof setTimeout> }>();

  constructor(options: GateOptions) {
    this.#options = options;
  }

  /** Connections held now, on both ports. */
  get size(): number {
    return this.#open.size;
  }

  /**
   * Takes `socket` (just accepted on `port`) into the budget, after closing the oldest silent connection when
   * the budget is full; false when it is full of connections that have spoken (the caller closes `socket`).
   */
  admit(socket: GatedSocket, port: string): boolean {
    const limit = this.#options.limit?.();
    if (limit !== undefined && this.#open.size >= limit) {
      const oldest = this.#oldestSilent();
      if (!oldest) return false;
      this.#silence(oldest, "room for a new connection");
    }
    const timer = setTimeout(() => {
      if (socket.bytesRead === 0 && !socket.destroyed) this.#silence(socket, "first-byte timeout");
    }, this.#options.firstByteMs);
    Deno.unrefTimer(timer);
    this.#open.set(socket, { port, timer });
    socket.once("close", () => this.#forget(socket));
    return true;
  }

  #oldestSilent(): GatedSocket | undefined {
    for (const socket of this.#open.keys()) if (socket.bytesRead === 0) return socket;
    return undefined;
  }

  /** Closes a silent connection; it leaves the count at once (its close event comes later). */
  #silence(socket: GatedSocket, why: SilentClose): void {
    const port = this.#open.get(socket)?.port ?? "";
    this.#forget(socket);
    try {
      this.#options.onSilentClosed?.(socket, port, why);
    } catch { /* a hook never keeps a connection */ }
    socket.destroy();
  }

  #forget(socket: GatedSocket): void {
    const held = this.#open.get(socket);
    if (!held) return;
    clearTimeout(held.timer);
    this.#open.delete(socket);
  }
}
