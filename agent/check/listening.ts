/**
 * Which processes listen on a TCP port, read from Linux's /proc: `agent check` tells the ports its running
 * agent holds from another program's, and the test rig (tests/support/ports.ts) the process it started from
 * another test file's that drew the same free port.
 */
import * as fs from "node:fs";

/** The inodes of the sockets listening on TCP `port` (IPv4 and IPv6), from /proc; undefined elsewhere. */
export function listeningInodes(port: number): Set<string> | undefined {
  const inodes = new Set<string>();
  let read = false;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = fs.readFileSync(table, "utf8");
      read = true;
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      // sl local_address rem_address st ... inode: "0: 0100007F:1F90 00000000:0000 0A ... 12345" (0A: LISTEN)
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[3] === "0A" && parseInt(f[1].split(":").at(-1)!, 16) === port) inodes.add(f[9]);
    }
  }
  return read ? inodes : undefined;
}

/**
 * Whether one of `pids` listens on TCP `port`: false when none does; undefined when this machine does not
 * let us tell (no /proc, or none of their descriptors readable: another user's processes).
 */
export function pidsListenOn(pids: Iterable<number>, port: number): boolean | undefined {
  const inodes = listeningInodes(port);
  if (!inodes) return undefined;
  if (inodes.size === 0) return false;
  let readable = false;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
      readable = true;
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m && inodes.has(m[1])) return true;
      } catch { /* closed meanwhile */ }
    }
  }
  return readable ? false : undefined;
}
