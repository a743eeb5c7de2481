/**
 * A TCP proxy on loopback for network faults: cut every connection at once (both sockets closed,
 * no WebSocket close frame, no GoAway), freeze them (bytes stop flowing both ways but the sockets
 * stay open: a half-open link), or only the client's bytes (its answers lost), or throttle what flows back to the client (a slow link).
 */
export interface CuttableProxy {
  port: number;
  /** Connections open now. */
  readonly open: number;
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
  /** Moves bytes again on every frozen connection (what waited goes on), and new ones are not frozen. */
  thaw(): void;
  /** Caps upstream-to-client bytes per second on every connection (undefined: no cap). */
  throttle(bytesPerSecond: number | undefined): void;
  close(): void;
}

interface Pair {
  client: Deno.Conn;
  upstream: Deno.Conn;
  frozen: boolean;
  /** Client-to-upstream bytes only. */
  upFrozen?: boolean;
}

export function startProxy(targetPort: number): CuttableProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<Pair>();
  let rate: number | undefined;
  let freezeNew = false;
  const closeQuietly = (c: Deno.Conn) => {
    try {
      c.close();
    } catch { /* closed already */ }
  };
  const end = (pair: Pair) => {
    if (!pairs.delete(pair)) return;
    closeQuietly(pair.client);
    closeQuietly(pair.upstream);
  };
  const pump = async (pair: Pair, from: Deno.Conn, to: Deno.Conn, limited: boolean) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        while (pair.frozen || (!limited && pair.upFrozen)) await new Promise((r) => setTimeout(r, 100));
        if (limited && rate) await new Promise((r) => setTimeout(r, (n / rate!) * 1000));
        let off = 0;
        while (off < n) off += await to.write(buffer.subarray(off, n));
      }
    } catch { /* cut */ }
    if (!pair.frozen) end(pair);
  };
  (async () => {
    for await (const client of listener) {
      let upstream: Deno.Conn;
      try {
        upstream = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
      } catch {
        closeQuietly(client);
        continue;
      }
      const pair: Pair = { client, upstream, frozen: freezeNew };
      pairs.add(pair);
      void pump(pair, client, upstream, false);
      void pump(pair, upstream, client, true);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get open() {
      return pairs.size;
    },
    cutAll() {
      const all = [...pairs];
      for (const p of all) p.frozen = false, p.upFrozen = false, end(p);
      return all.length;
    },
    freezeAll(alsoNew = false) {
      for (const p of pairs) p.frozen = true;
      freezeNew = alsoNew;
    },
    freezeToUpstream() {
      for (const p of pairs) p.upFrozen = true;
    },
    thaw() {
      freezeNew = false;
      for (const p of pairs) p.frozen = false, p.upFrozen = false;
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
