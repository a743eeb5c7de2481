/**
 * Holds a regular file so that another process's open() of it waits, without FUSE: a Linux write lease
 * (fcntl F_SETLEASE, taken by /usr/bin/python3, which ignores the SIGIO of a lease break). The kernel
 * makes the opener wait until the lease is let go or /proc/sys/fs/lease-break-time (45 s by default)
 * passes, so a test can hold a run at a known input for that long, then let it go.
 */
import * as path from "node:path";

const HOLDER = `
import fcntl, os, signal, sys
signal.signal(signal.SIGIO, signal.SIG_IGN)
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.fcntl(fd, fcntl.F_SETLEASE, fcntl.F_WRLCK)
print("held", flush=True)
sys.stdin.read()
`;

/** A lease held on a file; `release()` lets the waiting open() go on. */
export interface Lease {
  release(): Promise<void>;
}

/** Takes a write lease on `file` (a regular file no other process has open); resolves once it is held. */
export async function leaseFile(file: string): Promise<Lease> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: ["-c", HOLDER, path.resolve(file)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = await reader.read();
  if (first.value?.trim() !== "held") {
    await writer.close().catch(() => {});
    const { stderr } = await child.output().catch(() => ({ stderr: new Uint8Array() }));
    throw new Error(`no lease on ${file}: ${new TextDecoder().decode(stderr).trim() || "the holder ended"}`);
  }
  return {
    async release() {
      await writer.close().catch(() => {}); // the holder reads stdin to its end, then exits: the lease goes
      await reader.cancel().catch(() => {});
      child.stderr.cancel().catch(() => {});
      await child.status;
    },
  };
}
