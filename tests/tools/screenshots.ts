/**
 * `deno task docs:screenshots [--viewer]`: makes the console's screenshots in docs/images/console again
 * from the console as it is. tests/console/screens_test.ts (a real hub, two agents, Chromium) shoots
 * every screen, light and dark, into tests/.out/console, and tests/console/admin_test.ts a confirmation; `--viewer` runs tests/console/viewer_test.ts
 * too (the OHIF viewer's shots; it fetches the viewer with npm when it is not built). Then every image
 * docs/images/console already has is replaced by the one the run made; an image the run did not make
 * is named, and left as it was.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { SHOTS } from "../support/browser.ts";
import { runTestsInOwnTmp } from "./suite.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const DOC_IMAGES = path.join(ROOT, "docs/images/console");

/**
 * Copies each PNG of `docs` that `shots` holds, made at or after `since` (ms), over the one in `docs`;
 * answers the names copied and the names left as they were (the run made no new one).
 */
export async function refresh(
  shots: string,
  docs: string,
  since: number,
): Promise<{ copied: string[]; stale: string[] }> {
  const copied: string[] = [], stale: string[] = [];
  for await (const e of Deno.readDir(docs)) {
    if (!e.isFile || !e.name.endsWith(".png")) continue;
    const made = await Deno.stat(path.join(shots, e.name)).catch(() => undefined);
    if (!made?.mtime || made.mtime.getTime() < since) {
      stale.push(e.name);
      continue;
    }
    await Deno.copyFile(path.join(shots, e.name), path.join(docs, e.name));
    copied.push(e.name);
  }
  return { copied: copied.sort(), stale: stale.sort() };
}

if (import.meta.main) {
  const files = ["tests/console/screens_test.ts", "tests/console/admin_test.ts"];
  if (Deno.args.includes("--viewer")) files.push("tests/console/viewer_test.ts");
  // A second of margin: a file system that keeps whole seconds dates a new shot to the second it began.
  const since = Math.floor(Date.now() / 1000) * 1000 - 1000;
  const code = await runTestsInOwnTmp(["-A", "--frozen", ...files.map((f) => path.join(ROOT, f))]);
  if (code !== 0) {
    console.error(`docs:screenshots: the run failed (exit ${code}); docs/images/console left as it was`);
    Deno.exit(code);
  }
  const { copied, stale } = await refresh(SHOTS, DOC_IMAGES, since);
  console.log(`docs:screenshots: ${copied.length} image(s) of docs/images/console made again`);
  if (stale.length) {
    console.log(`not made by this run (left as they were): ${stale.join(", ")}`);
  }
}
