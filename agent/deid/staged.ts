/**
 * The hidden names a batch bound for a directory writes under before each output gets its own
 * (`pool.ts`): `.deid-<pid>-<batch>-<n>.dcm`, and the engine's `.part` beside it while it writes. A run
 * ended by kill -9 leaves them; the next run into the directory removes those of runs no longer going.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { processAlive } from "../archive/lock.ts";

/** The staged name of input `n` of batch `batch` in `dir`, made by this process. */
export function stagedName(dir: string, batch: string, n: number): string {
  return path.join(dir, `.deid-${Deno.pid}-${batch}-${n}.dcm`);
}

/** A staged file of this naming (the pid is absent in names made before it was added). */
const STAGED = /^\.deid-(?:(\d+)-)?[0-9a-f]{8}-\d+\.dcm(?:\.part)?$/;

/** What {@link sweepStaged} found. */
export interface Swept {
  /** Files of runs that ended without finishing, removed. */
  removed: number;
  /** Files of runs still going (another `agent deid` into the same directory), left alone. */
  kept: number;
}

/**
 * Removes from `dir` the staged files of runs that are no longer going (their process is gone: a kill -9,
 * a crash, a power cut). Nothing else in the directory is touched: only names of {@link stagedName}'s
 * form, with their `.part`.
 */
export function sweepStaged(dir: string): Swept {
  const swept: Swept = { removed: 0, kept: 0 };
  for (const name of fs.readdirSync(dir)) {
    const m = STAGED.exec(name);
    if (!m) continue;
    const pid = m[1] === undefined ? undefined : Number(m[1]);
    if (pid !== undefined && (pid === Deno.pid || processAlive(pid))) {
      swept.kept++;
      continue;
    }
    fs.rmSync(path.join(dir, name), { force: true });
    swept.removed++;
  }
  return swept;
}
