/**
 * `deno task build`: the console (ui/dist, build_ui.ts), the viewer (ui/viewer, viewer.ts), then the
 * agent and the hub, each as one binary with `deno compile` (`dist/conduit-agent`, `dist/conduit-hub`,
 * the hub's with the console, the viewer and its migrations embedded). The compile runtime (denort)
 * is downloaded by Deno unless `DENORT_BIN` points at one; where it cannot be had, each falls back to
 * a bundle directory started by its launcher (`dist/agent/conduit-agent`, `dist/hub/conduit-hub`,
 * see bundle.ts), which needs Deno but not the npm registry. Each carries the build stamp (deploy/stamp.ts):
 * the commit, its date, and whether the tree had changes not committed.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildConsole } from "./build_ui.ts";
import { prepareViewer } from "./viewer.ts";
import { bundleAgent, bundleHub } from "./bundle.ts";
import { writeStamp } from "./stamp.ts";

export { bundleAgent, bundleHub };

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "dist");

async function compile(args: string[]): Promise<boolean> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["compile", "-A", ...args],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return code === 0;
}

const TARGETS = {
  agent: {
    binary: "conduit-agent",
    args: [
      "--no-code-cache",
      "--v8-flags=--expose-gc,--max-semi-space-size=1",
      // The transcoding, rendering and de-identification workers are loaded by URL at run time: they
      // have to be named to be embedded; so do the index's migrations.
      "--include",
      "agent/transcode/worker.ts",
      "--include",
      "agent/render/worker.ts",
      "--include",
      "agent/deid/worker.ts",
      "--include",
      "agent/index/migrations",
      // The build stamp (deploy/stamp.ts), written for the compile and removed after it.
      "--include",
      "agent/build.json",
      "agent/main_packaged.ts",
    ],
    bundle: bundleAgent,
  },
  hub: {
    binary: "conduit-hub",
    // Read from disk by URL at run time: the database's migrations, the console and the viewer.
    args: [
      "--include",
      "hub/db/migrations",
      "--include",
      "hub/db/migrations_pg",
      "--include",
      "ui/dist",
      "--include",
      "ui/viewer",
      "--include",
      "hub/build.json",
      "hub/main_packaged.ts",
    ],
    bundle: bundleHub,
  },
};

if (import.meta.main) {
  await buildConsole();
  console.log("built the console into ui/dist (served by the hub at /)");
  await prepareViewer();
  console.log("the viewer is in ui/viewer (served by the hub at /viewer/)");
  await Deno.mkdir(DIST, { recursive: true });
  for (const [name, t] of Object.entries(TARGETS)) {
    const binary = path.join(DIST, t.binary);
    const [entry, ...flags] = [t.args.at(-1)!, ...t.args.slice(0, -1)];
    // Beside the entry point's folder, where {agent,hub}/version.ts read it; not left in the checkout, where
    // a stamp would outlive the commit it names.
    const stamp = await writeStamp(path.join(ROOT, path.dirname(entry)));
    const compiled = await compile([...flags, "--output", binary, entry]).finally(() => Deno.remove(stamp));
    if (compiled) {
      console.log(`built ${path.relative(ROOT, binary)}`);
      continue;
    }
    console.error(
      `build: deno compile failed for the ${name} (its error is above; offline, it cannot fetch its runtime: ` +
        "set DENORT_BIN to a denort binary to compile); bundling instead.",
    );
    const launcher = await t.bundle();
    console.log(
      `built ${path.relative(ROOT, path.dirname(launcher))}: start it with ${path.relative(ROOT, launcher)}`,
    );
  }
}
