/**
 * The agent's release version (in /healthz) and its build (`0.1.0+140c00aa (2026-12-06)`: `--version`, the
 * start log line, the hello to the hub, /metrics, `agent check`, backup manifests), read once at start
 * (@conduit/shared/build): from this checkout's git, else from the stamp a build put beside this module
 * (deploy/stamp.ts).
 */
import { type BuildInfo, formatBuild, gitOn, readBuild, STAMP_FILE } from "@conduit/shared/build";

export const VERSION = "0.1.0";

export const BUILD: BuildInfo = await readBuild(VERSION, {
  git: gitOn(
    new URL("../", import.meta.url),
    (command, options) => new Deno.Command(command, options).output(),
  ),
  // Beside this module: agent/ from source or in an image or a binary, the bundle's own folder.
  stamp: () => Deno.readTextFile(new URL(STAMP_FILE, import.meta.url)).catch(() => undefined),
});

/** {@link BUILD} as one line: what the hub sees as this agent's version. */
export const BUILD_TEXT = formatBuild(BUILD);
