/**
 * A TCP proxy on loopback whose connections a test can cut at once, as a network failure would
 * (both sockets closed, no WebSocket close frame, no GoAway).
 */
export interface CuttableProxy {
  port: number;
  /** Connections open now. */
  readonly open: number;
  /** Closes every proxied connection abruptly. */
  cutAll(): number;
  close(): void;
}

export function startProxy(targetPort: number): CuttableProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pairs = new Set<[Deno.Conn, Deno.Conn]>();
  const closeQuietly = (c: Deno.Conn) => {
    try {
      c.close();
    } catch { /* closed already */ }
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
      const pair: [Deno.Conn, Deno.Conn] = [client, upstream];
      pairs.add(pair);
      const end = () => {
        if (!pairs.delete(pair)) return;
        closeQuietly(client);
        closeQuietly(upstream);
      };
      client.readable.pipeTo(upstream.writable).catch(() => {}).finally(end);
      upstream.readable.pipeTo(client.writable).catch(() => {}).finally(end);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    get open() {
      return pairs.size;
    },
    cutAll() {
      const n = pairs.size;
      const all = [...pairs];
      pairs.clear();
      for (const [a, b] of all) closeQuietly(a), closeQuietly(b);
      return n;
    },
    close() {
      this.cutAll();
      try {
        listener.close();
      } catch { /* closed */ }
    },
  };
}
