/**
 * The build stamp (`build.json`, @conduit/shared/build): which commit a build is of, its date and whether the
 * tree had changes not committed, as this checkout's git says now. `deno task build` writes it into each
 * artifact (the bundles' folders; the compiled binaries embed it); a built program has no `.git` and reads it
 * instead. `deno task build:stamp` prints it, for the container images
 * (`podman build --build-arg CONDUIT_BUILD="$(deno task build:stamp)" ...`).
 */
import * as path from "node:path";
import { STAMP_FILE } from "@conduit/shared/build";
import { BUILD } from "../agent/version.ts";

/** The stamp of this checkout, one line of JSON. */
export const STAMP = JSON.stringify(BUILD);

/** Writes the stamp into `dir`, beside the module that reads it; returns its path. */
export async function writeStamp(dir: string): Promise<string> {
  const file = path.join(dir, STAMP_FILE);
  await Deno.writeTextFile(file, STAMP + "\n");
  return file;
}

if (import.meta.main) console.log(STAMP);
