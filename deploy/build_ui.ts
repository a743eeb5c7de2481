/** Builds the console (ui/) with Vite into ui/dist, which the hub serves at `/`. About a second. */
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Runs `vite build` in ui/; throws with Vite's message when it fails. */
export async function buildConsole(options: { ifMissing?: boolean } = {}): Promise<void> {
  if (options.ifMissing) {
    try {
      await Deno.stat(path.join(ROOT, "ui/dist/index.html"));
      return;
    } catch { /* build it */ }
  }
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "npm:vite@^8", "build"],
    cwd: path.join(ROOT, "ui"),
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`the console did not build: ${new TextDecoder().decode(out.stderr).slice(-600)}`);
  }
}

if (import.meta.main) await buildConsole();
