/**
 * How many connections wait to be accepted on a listening TCP port (Linux: /proc/net/tcp and tcp6, where a
 * LISTEN socket's rx_queue is its accept queue). The DICOM over TLS listener watches it: Node's `tls` server
 * under Deno 2.9.6 stops accepting at EMFILE without a word (tls.ts).
 */

/** The connections waiting on `port` in the text of /proc/net/tcp or tcp6 (0 when no LISTEN socket is on it). */
export function acceptQueue(table: string, port: number): number {
  let queued = 0;
  for (const line of table.split("\n")) {
    // sl local_address rem_address st tx_queue:rx_queue ...
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[3] !== "0A") continue; // TCP_LISTEN
    const local = f[1].split(":");
    if (parseInt(local[local.length - 1], 16) !== port) continue;
    queued += parseInt(f[4].split(":")[1] ?? "0", 16) || 0;
  }
  return queued;
}

/** The connections waiting on `port`, or undefined when it cannot be read (no /proc; out of descriptors). */
export function readAcceptQueue(port: number): number | undefined {
  let queued = 0;
  let read = false;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      queued += acceptQueue(Deno.readTextFileSync(file), port);
      read = true;
    } catch { /* absent (no IPv6), or no descriptor to read it with */ }
  }
  return read ? queued : undefined;
}
