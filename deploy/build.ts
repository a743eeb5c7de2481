/**
 * `deno task build`: builds the console (ui/dist, see build_ui.ts) and the agent as one binary with
 * `deno compile`. The compile runtime
 * (denort) is downloaded by Deno unless `DENORT_BIN` points at one; offline and without DENORT_BIN,
 * it falls back to `deno bundle`, a single JavaScript file run with `deno run -A dist/agent.js`.
 * The index migrations travel beside the output in `dist/migrations`.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { buildConsole } from "./build_ui.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "dist");

async function run(args: string[]): Promise<boolean> {
  const { code } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  })
    .output();
  return code === 0;
}

async function copyMigrations(dir: string): Promise<void> {
  const from = path.join(ROOT, "agent/index/migrations");
  const to = path.join(dir, "migrations");
  await Deno.mkdir(path.join(to, "meta"), { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(path.join(from, e.name), path.join(to, e.name));
  }
  for await (const e of Deno.readDir(path.join(from, "meta"))) {
    await Deno.copyFile(path.join(from, "meta", e.name), path.join(to, "meta", e.name));
  }
}

/** Bundles the agent into dist/agent.js; returns the output path. */
export async function bundleAgent(out = path.join(DIST, "agent.js")): Promise<string> {
  await Deno.mkdir(path.dirname(out), { recursive: true });
  // libsql is a native addon: it stays an npm import, resolved from the npm cache at run time.
  const args = ["bundle", "--platform=deno", "--external", "@libsql/*", "--external", "libsql"];
  if (!await run([...args, "-o", out, "agent/main.ts"])) throw new Error("deno bundle failed");
  await copyMigrations(path.dirname(out));
  // The external import needs its mapping beside the bundle, wherever the bundle is installed.
  const rootConfig = JSON.parse(await Deno.readTextFile(path.join(ROOT, "deno.json")));
  const config = {
    imports: { "@libsql/client": rootConfig.imports["@libsql/client"], libsql: rootConfig.imports.libsql },
    nodeModulesDir: "none",
  };
  await Deno.writeTextFile(path.join(path.dirname(out), "deno.json"), JSON.stringify(config, null, 2) + "\n");
  return out;
}

if (import.meta.main) {
  await buildConsole();
  console.log("built the console into ui/dist (served by the hub at /)");
  await Deno.mkdir(DIST, { recursive: true });
  await copyMigrations(DIST);
  const binary = path.join(DIST, "conduit-agent");
  const compiled = await run([
    "compile",
    "-A",
    "--v8-flags=--expose-gc",
    // The transcoding, rendering and de-identification workers are loaded by URL at run time: they
    // have to be named to be embedded.
    "--include",
    "agent/transcode/worker.ts",
    "--include",
    "agent/render/worker.ts",
    "--include",
    "agent/deid/worker.ts",
    "--output",
    binary,
    "agent/main.ts",
  ]);
  if (compiled) {
    console.log(`built ${path.relative(ROOT, binary)} (migrations in dist/migrations)`);
  } else {
    console.error(
      "build: deno compile could not get its runtime (offline?). Set DENORT_BIN to a denort binary to compile;\n" +
        "       bundling instead.",
    );
    const out = await bundleAgent();
    console.log(
      `built ${path.relative(ROOT, out)}: run it with 'deno run -A --v8-flags=--expose-gc ${
        path.relative(ROOT, out)
      }'`,
    );
  }
}
