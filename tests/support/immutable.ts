/**
 * Files that cannot be written, even by root and through descriptors already open (a full or failing
 * disk, as the process sees it): `chattr +i`, the immutable flag, on file systems that have it (ext4-like).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { toolPath } from "./peers.ts";

/** Whether `chattr +i` works in `dir` (root, `chattr` installed, a file system with the flag). */
export async function canFreeze(dir: string): Promise<boolean> {
  if (Deno.uid() !== 0 || !toolPath("chattr")) return false;
  const f = path.join(dir, "probe");
  await Deno.writeTextFile(f, "x");
  const on = await new Deno.Command(toolPath("chattr")!, { args: ["+i", f], stderr: "null" }).output();
  await new Deno.Command(toolPath("chattr")!, { args: ["-i", f], stderr: "null" }).output();
  await Deno.remove(f);
  return on.success;
}

/** Sets (`+i`) or clears (`-i`) the immutable flag of `files`. */
export async function chattr(flag: "+i" | "-i", files: string[]): Promise<void> {
  const out = await new Deno.Command(toolPath("chattr")!, { args: [flag, ...files] }).output();
  assert.ok(out.success, `chattr ${flag}`);
}
