/** The space of the file system that holds a directory, as `statfs` gives it. */
import * as fs from "node:fs";

export interface DiskSpace {
  /** Bytes available to unprivileged users (`f_bavail`): what the free-space floor compares. */
  available: number;
  /** The file system's size in bytes (`f_blocks`). */
  size: number;
}

/** The space of `dir`'s file system; throws what `statfs` throws (no such directory, no permission). */
export function diskSpace(dir: string): DiskSpace {
  const s = fs.statfsSync(dir);
  return { available: s.bavail * s.bsize, size: s.blocks * s.bsize };
}
