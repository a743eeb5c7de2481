/**
 * The files a command-line argument names: the file itself, or every file under a directory, sorted. Only
 * regular files (or links to them) are taken: a FIFO, a socket or a device would block a reader forever
 * (a FIFO nobody writes to) or read without end, so each is set aside with what it is.
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** An argument's files, and what was set aside: each path with what it is ("a FIFO (named pipe)"). */
export interface Files {
  files: string[];
  skipped: { file: string; reason: string }[];
}

/** `exclude`: a directory not walked (a command's output directory under its input). */
export function filesUnder(p: string, exclude?: string): Files {
  const found: Files = { files: [], skipped: [] };
  walk(p, found, exclude && realOrSame(exclude));
  return found;
}

function realOrSame(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** Whether directory `inner` is `outer` or under it (both as they resolve). */
export function within(inner: string, outer: string): boolean {
  const rel = path.relative(realOrSame(outer), realOrSame(inner));
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function walk(p: string, found: Files, exclude?: string): void {
  let stat;
  try {
    stat = fs.statSync(p);
  } catch {
    found.files.push(p); // the caller reports it as unreadable
    return;
  }
  if (stat.isDirectory()) {
    if (exclude !== undefined && realOrSame(p) === exclude) return;
    for (const name of fs.readdirSync(p).sort()) walk(path.join(p, name), found, exclude);
  } else if (stat.isFile()) found.files.push(p);
  else found.skipped.push({ file: p, reason: `${kindOf(stat)}, not a regular file: skipped` });
}

function kindOf(stat: fs.Stats): string {
  if (stat.isFIFO()) return "a FIFO (named pipe)";
  if (stat.isSocket()) return "a socket";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  return "not a file or a directory";
}

/** Says on stderr, one line each, what {@link filesUnder} set aside (`command: FILE: reason`). */
export function reportSkipped(command: string, skipped: Files["skipped"]): void {
  for (const s of skipped) console.error(`${command}: ${s.file}: ${s.reason}`);
}
