/** The files a command-line argument names: the file itself, or every file under a directory, sorted. */
import * as fs from "node:fs";
import * as path from "node:path";

export function filesUnder(p: string): string[] {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    return [p]; // the caller reports it as unreadable
  }
  if (!stat.isDirectory()) return [p];
  return fs.readdirSync(p).sort().flatMap((name) => filesUnder(path.join(p, name)));
}
