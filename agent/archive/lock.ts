/**
 * One agent per data directory: `<data>/agent.pid` names the running agent; a second one on the
 * same directory stops at start instead of removing the first one's partial files.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** Takes the directory, or throws naming the process that holds it. Returns the release function. */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, "agent.pid");
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, "wx", 0o644);
      fs.writeSync(fd, `${Deno.pid}\n`);
      fs.closeSync(fd);
      return () => {
        try {
          if (fs.readFileSync(file, "utf8").trim() === String(Deno.pid)) fs.unlinkSync(file);
        } catch { /* already gone */ }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number(fs.readFileSync(file, "utf8").trim());
      if (pid && pid !== Deno.pid && processAlive(pid) && !startedAfter(pid, file)) {
        throw new Error(`data directory ${dataDir} is in use by agent process ${pid}${holderCommand(pid)}`);
      }
      fs.rmSync(file, { force: true }); // left by a crash: take it over
    }
  }
  throw new Error(`cannot lock data directory ${dataDir}`);
}

/** The live process other than this one that holds the directory's lock, or null (none, or a crash's file). */
export function lockHolder(dataDir: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(path.join(dataDir, "agent.pid"), "utf8").trim());
  } catch {
    return null;
  }
  return pid && pid !== Deno.pid && processAlive(pid) && !startedAfter(pid, path.join(dataDir, "agent.pid"))
    ? pid
    : null;
}

/**
 * Whether process `pid` started after `file` was last written and is no agent: then it cannot be the agent
 * that wrote it, and the file is a crash's, its number since given to another program (until 2026-12-07
 * such a file kept the agent from starting, "in use by agent process N" naming, say, a storescp). Both, not
 * the time alone: a wall clock stepped forward since the agent started (a first NTP sync after boot) makes
 * a running agent look started after its own file. Linux's /proc only; false when it cannot tell.
 */
export function startedAfter(pid: number, file: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (/agent/i.test(argv)) return false;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const startTicks = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
    const bootSeconds = Number(/^btime (\d+)$/m.exec(fs.readFileSync("/proc/stat", "utf8"))?.[1]);
    if (!Number.isFinite(startTicks) || !Number.isFinite(bootSeconds)) return false;
    const startedMs = (bootSeconds + startTicks / CLOCK_TICKS) * 1000;
    // A second of slack: btime is whole seconds, and the file is written just after its writer started.
    return startedMs > fs.statSync(file).mtimeMs + 1000;
  } catch {
    return false;
  }
}

/** USER_HZ, the unit of /proc's start times: 100 on Linux whatever the kernel's own tick. */
const CLOCK_TICKS = 100;

/** Agent subcommands that hold the directory's lock for a while, as a holder's message names them. */
const HOLDING_COMMANDS = ["restore", "enroll"];

/**
 * ` (agent restore)` when `pid`'s command line is one of those subcommands (an agent started during a
 * restore is told what holds it, not only a process number), else nothing. Only the subcommand's name: its
 * other arguments may hold a token.
 */
export function holderCommand(pid: number): string {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    const sub = argv.find((a) => HOLDING_COMMANDS.includes(a));
    return sub ? ` (agent ${sub}: start it again once that has ended)` : "";
  } catch {
    return "";
  }
}

/** Whether process `pid` runs on this machine. */
export function processAlive(pid: number): boolean {
  try {
    return fs.existsSync(`/proc/${pid}`) || (Deno.kill(pid, "SIGCONT"), true);
  } catch {
    return false;
  }
}
