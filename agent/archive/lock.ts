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
      if (pid && pid !== Deno.pid && processAlive(pid)) {
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
  return pid && pid !== Deno.pid && processAlive(pid) ? pid : null;
}

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
