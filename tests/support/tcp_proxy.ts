/**
 * A TCP proxy on loopback for network faults: cut every connection at once (both sockets closed,
 * no WebSocket close frame, no GoAway), freeze them (bytes stop flowing both ways but the sockets
 * stay open: a half-open link), or one direction only (from now, or once a number of bytes has gone
 * through), half-close one direction (a FIN that side), throttle what flows back to the client (a slow
 * link), or black-hole new connections (accepted, never connected upstream).
 */
export interface CuttableProxy {
  port: number;
  /** Connections open now. */
  readonly open: number;
  /** Connections accepted since the proxy started (black-holed ones included). */
  readonly accepted: number;
  /** Closes every proxied connection abruptly; returns how many there were. */
  cutAll(): number;
  /**
   * Stops moving bytes on the connections open now; with `alsoNew`, on every connection made from now on
   * too (accepted, and connected upstream, but nothing moves: a peer that stopped answering altogether).
   */
  freezeAll(alsoNew?: boolean): void;
  /**
   * Stops moving client-to-upstream bytes on the connections open now (what the upstream sends still
   * reaches the client): a client whose answers are lost on the way.
   */
  freezeToUpstream(): void;
  /** Stops moving upstream-to-client bytes on the connections open now (the client's bytes still go). */
  freezeToClient(): void;
  /**
   * Stalls one direction of every connection open now or made from now on once `bytes` more have gone
   * that way on it (a link that dies in the middle of a message), up to `connections` of them (the later
   * ones are left alone); `stalled` counts the connections it hit.
   */
  stallAfter(direction: Direction, bytes: number, connections?: number): void;
  /** Connections a `stallAfter` has stalled so far. */
  readonly stalled: number;
  /** Ends one direction of the connections open now with a FIN (the other direction keeps flowing). */
  halfClose(direction: Direction): void;
  /**
   * New connections are accepted and held, never connected upstream, nothing read; `thaw` closes them (they
   * count in `open` until then, even once their client has given up).
   */
  blackHole(): void;
  /** Moves bytes again on every frozen or stalled connection (what waited goes on); ends black-holing. */
  thaw(): void;
  /** Caps upstream-to-client bytes per second on every connection (undefined: no cap). */
  throttle(bytesPerSecond: number | undefined): void;
  close(): void;
}

export type Direction = "toUpstream" | "toClient";

interface Pair {
  client: Deno.Conn;
  upstream?: Deno.Conn;
  /** Both directions. */
  frozen: boolean;
  /** One direction only. */
  held: Record<Direction, boolean>;
  /** Bytes one direction may still move before it is held (a `stallAfter`). */
  budget: Partial<Record<Direction, number>>;
}

export function startProxy(targetPort: number): CuttableProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<Pair>();
  let rate: number | undefined;
  let freezeNew = false;
  let holeNew = false;
  let accepted = 0;
  let stalled = 0;
  let stallNew: { direction: Direction; bytes: number; left: number } | undefined;
  const closeQuietly = (c: Deno.Conn | undefined) => {
    try {
      c?.close();
    } catch { /* closed already */ }
  };
  const end = (pair: Pair) => {
    if (!pairs.delete(pair)) return;
    closeQuietly(pair.client);
    closeQuietly(pair.upstream);
  };
  const waitWhile = async (cond: () => boolean) => {
    while (cond()) await new Promise((r) => setTimeout(r, 50));
  };
  const pump = async (pair: Pair, from: Deno.Conn, to: Deno.Conn, direction: Direction) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        await waitWhile(() => pair.frozen || pair.held[direction]);
        const n = await from.read(buffer);
        if (n === null) break;
        let chunk = buffer.subarray(0, n);
        const budget = pair.budget[direction];
        if (budget !== undefined && budget < n) {
          // Only what the budget allows goes now; the rest waits for a thaw.
          await writeAll(to, chunk.subarray(0, budget));
          chunk = chunk.subarray(budget);
          pair.held[direction] = true;
          delete pair.budget[direction];
          stalled++;
        } else if (budget !== undefined) pair.budget[direction] = budget - n;
        await waitWhile(() => pair.frozen || pair.held[direction]);
        if (direction === "toClient" && rate) {
          await new Promise((r) => setTimeout(r, (chunk.length / rate!) * 1000));
        }
        await writeAll(to, chunk);
      }
    } catch { /* cut */ }
    if (!pair.frozen && !pair.held[direction]) end(pair);
  };
  (async () => {
    for await (const client of listener) {
      accepted++;
      const pair: Pair = {
        client,
        frozen: freezeNew,
        held: { toUpstream: false, toClient: false },
        budget: {},
      };
      if (stallNew && stallNew.left-- > 0) pair.budget[stallNew.direction] = stallNew.bytes;
      pairs.add(pair);
      if (holeNew) continue;
      try {
        pair.upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        end(pair);
        continue;
      }
      void pump(pair, client, pair.upstream, "toUpstream");
      void pump(pair, pair.upstream, client, "toClient");
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get open() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    get stalled() {
      return stalled;
    },
    cutAll() {
      const all = [...pairs];
      for (const p of all) p.frozen = false, p.held = { toUpstream: false, toClient: false }, end(p);
      return all.length;
    },
    freezeAll(alsoNew = false) {
      for (const p of pairs) p.frozen = true;
      freezeNew = alsoNew;
    },
    freezeToUpstream() {
      for (const p of pairs) p.held.toUpstream = true;
    },
    freezeToClient() {
      for (const p of pairs) p.held.toClient = true;
    },
    stallAfter(direction, bytes, connections = Infinity) {
      let left = connections;
      for (const p of pairs) if (left-- > 0) p.budget[direction] = bytes;
      stallNew = { direction, bytes, left: Math.max(0, left) };
    },
    halfClose(direction) {
      for (const p of pairs) {
        const to = direction === "toClient" ? p.client : p.upstream;
        (to as Deno.TcpConn | undefined)?.closeWrite().catch(() => {});
      }
    },
    blackHole() {
      holeNew = true;
    },
    thaw() {
      freezeNew = false;
      holeNew = false;
      stallNew = undefined;
      for (const p of pairs) {
        p.frozen = false, p.held = { toUpstream: false, toClient: false }, p.budget = {};
        // A black-holed connection was never connected upstream: it ends (its client may have gone already).
        if (!p.upstream) end(p);
      }
    },
    throttle(bytesPerSecond) {
      rate = bytesPerSecond;
    },
    close() {
      this.cutAll();
      try {
        listener.close();
      } catch { /* closed */ }
    },
  };
}

async function writeAll(to: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await to.write(bytes.subarray(off));
}
