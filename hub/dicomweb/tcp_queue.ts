/**
 * How many bytes the hub's side of a client's TCP connection still holds unacknowledged (its send queue),
 * read from Linux's `/proc/net/tcp` and `/proc/net/tcp6` by the client's address and port. Deno.serve gives
 * no handle on a connection's socket; this is how the stall bound (./stall.ts) sees a slow client take bytes
 * while the server's writes are still blocked on the socket's buffers. Undefined where there is no /proc
 * (not Linux) or the connection is not found (closed): the caller then goes by its own reads alone.
 */

/** `/proc/net/tcp*` state of an established connection. */
const ESTABLISHED = "01";

/** 16 bytes of an IPv6 address in text form (`::1`, `fe80::a:b`), or undefined. */
function ipv6Bytes(text: string): number[] | undefined {
  const [head, tail, more] = text.split("::");
  if (more !== undefined) return undefined;
  const words = (s: string | undefined) => s ? s.split(":").map((w) => parseInt(w, 16)) : [];
  const h = words(head), t = words(tail);
  const fill = tail === undefined ? 0 : 8 - h.length - t.length;
  const all = [...h, ...Array(Math.max(0, fill)).fill(0), ...t];
  if (all.length !== 8 || all.some((w) => !(w >= 0 && w <= 0xffff))) return undefined;
  return all.flatMap((w) => [w >> 8, w & 0xff]);
}

const hex = (bytes: number[]) => bytes.map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join("");

/**
 * The `rem_address` forms a peer may have in /proc/net/tcp and tcp6: the address as 32-bit words in host
 * (little-endian) byte order, then the port. An IPv4 peer may sit on an IPv6 socket as ::ffff:a.b.c.d.
 */
function procAddresses(addr: Deno.NetAddr): string[] {
  const port = addr.port.toString(16).toUpperCase().padStart(4, "0");
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(addr.hostname);
  const bytes = v4
    ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4.slice(1).map(Number)]
    : ipv6Bytes(addr.hostname);
  if (!bytes) return [];
  const words = [0, 4, 8, 12].map((i) => hex(bytes.slice(i, i + 4).reverse())).join("");
  return v4 ? [`${hex(bytes.slice(12).reverse())}:${port}`, `${words}:${port}`] : [`${words}:${port}`];
}

/** The send queue (bytes) of the established connection whose peer is `peer`, if found. */
export function sendQueue(peer: Deno.NetAddr): number | undefined {
  const wanted = procAddresses(peer);
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(file);
    } catch {
      continue;
    }
    for (const line of text.split("\n")) {
      const f = line.trim().split(/\s+/);
      if (f.length > 4 && f[3] === ESTABLISHED && wanted.includes(f[2])) {
        return parseInt(f[4].split(":")[0], 16);
      }
    }
  }
  return undefined;
}
