/**
 * How many bytes the hub's side of a client's TCP connection still holds unacknowledged (its send queue),
 * read from Linux's `/proc/net/tcp` and `/proc/net/tcp6` by the client's address and port. Deno.serve gives
 * no handle on a connection's socket; this is how the stall bound (./stall.ts) sees a slow client take bytes
 * while the server's writes are still blocked on the socket's buffers. Undefined where there is no /proc
 * (not Linux) or the connection is not found (closed): the caller then goes by its own reads alone.
 */

/** `/proc/net/tcp*` state of an established connection. */
const ESTABLISHED = "01";

/** The `rem_address` column of a peer (`0100007F:D431`, or the 32 hex digits of IPv6), host byte order. */
function procAddresses(addr: Deno.NetAddr): string[] {
  const port = addr.port.toString(16).toUpperCase().padStart(4, "0");
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(addr.hostname);
  if (!v4) return []; // IPv6 peers: not matched (the bound then goes by the body's reads alone)
  const le = v4.slice(1).map((n) => Number(n).toString(16).toUpperCase().padStart(2, "0")).reverse().join("");
  // An IPv4 peer on an IPv6 socket: ::ffff:a.b.c.d, as four 32-bit words in host order.
  return [`${le}:${port}`, `0000000000000000FFFF0000${le}:${port}`];
}

/** The send queue (bytes) of the established connection whose peer is `peer`, if found. */
export function sendQueue(peer: Deno.NetAddr): number | undefined {
  const wanted = procAddresses(peer);
  if (!wanted.length) return undefined;
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
