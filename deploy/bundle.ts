/**
 * The artifacts `deno task build` makes where `deno compile` cannot get its runtime: each program as
 * one JavaScript bundle in a directory that holds everything it needs to start without the npm
 * registry, started by a launcher script beside it (`conduit-agent`, `conduit-hub`):
 *
 *   dist/agent/  main_packaged.js and its chunks, migrations/ (the index's), build.json (the build stamp,
 *                deploy/stamp.ts), deno.json, deno.lock, deno_dir/, conduit-agent
 *   dist/hub/    hub/main.js, hub/migrations/ and migrations_pg/, hub/build.json, ui/dist/ (the console), ui/viewer/ (OHIF),
 *                deno.json, deno.lock, deno_dir/, conduit-hub
 *
 * The hub's bundle sits at `hub/main.js` so that the paths its modules resolve from their own URL
 * (`./migrations`, `../ui/dist/`, `../ui/viewer/`) land on the copies beside it. libsql is a native
 * addon and cannot be bundled: it stays an npm import, and its packages (the versions of the
 * repository's lock) are copied from Deno's npm cache into `deno_dir`, which the launcher names as
 * DENO_DIR and runs with `--cached-only`: nothing is fetched at first start.
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { writeStamp } from "./stamp.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function deno(args: string[], cwd = ROOT, env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args, cwd, env, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`deno ${args[0]} failed: ${new TextDecoder().decode(out.stderr).slice(-800)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** Copies a directory tree (files and folders). */
export async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    const a = path.join(from, e.name), b = path.join(to, e.name);
    if (e.isDirectory) await copyTree(a, b);
    else if (e.isFile) await Deno.copyFile(a, b);
  }
}

const EXTERNAL = ["--external", "@libsql/*", "--external", "libsql"];

/** Bundles `entry` to `out`, libsql left external. */
async function bundle(entry: string, out: string): Promise<void> {
  await Deno.mkdir(path.dirname(out), { recursive: true });
  await deno(["bundle", "--platform=deno", ...EXTERNAL, "-o", out, entry]);
}

/**
 * Bundles `entry` into `dir` split in chunks, minified (names kept, for errors and logs): what the program
 * imports dynamically (the DICOM library on the first association, the tunnel with a hub, rendering...)
 * stays in chunks loaded when first taken, as from source, and the sources V8 keeps are a third of their
 * size. Issue 16: the agent idles at about 70 MB so, against 85 MB as one unsplit module. `workers`
 * (`agent/<part>/worker.ts`) are built beside the chunks as `<part>/worker.js`, where agent/worker_url.ts
 * looks for them. esbuild's `require` for the CommonJS packages it bundles (dcmjs-dimse, ws...), and
 * dcmjs-codecs' own `eval("require(...)")`, need a real `require` in their chunk: Deno gives one to a
 * single-file bundle only. Returns the entry's output path.
 */
async function bundleSplit(entry: string, workers: string[], dir: string): Promise<string> {
  const folders = [dir, ...workers.map((w) => path.join(dir, path.basename(path.dirname(w))))];
  // Chunks are named by their content: those of an earlier build would stay beside the new ones.
  for (const folder of folders) {
    await Deno.mkdir(folder, { recursive: true });
    for await (const e of Deno.readDir(folder)) {
      if (e.isFile && e.name.endsWith(".js")) await Deno.remove(path.join(folder, e.name));
    }
  }
  await deno([
    "bundle",
    "--platform=deno",
    "--code-splitting",
    "--minify",
    "--keep-names",
    ...EXTERNAL,
    "--outdir",
    dir,
    entry,
    ...workers,
  ]);
  for (const folder of folders) {
    for await (const e of Deno.readDir(folder)) {
      if (!e.isFile || !e.name.endsWith(".js")) continue;
      const file = path.join(folder, e.name);
      const code = await Deno.readTextFile(file);
      const needs = code.includes("Dynamic require of") || code.includes(`eval("require(`);
      if (!needs || code.includes("__conduitCreateRequire")) continue;
      await Deno.writeTextFile(
        file,
        `import { createRequire as __conduitCreateRequire } from "node:module";\n` +
          `var require = __conduitCreateRequire(import.meta.url);\n${code}`,
      );
    }
  }
  return path.join(dir, path.basename(entry).replace(/\.ts$/, ".js"));
}

/**
 * Makes `dir` start `bundleFile` on its own: a deno.json mapping the external npm imports, the
 * repository's lock, the npm packages they need copied from Deno's cache into `deno_dir`, and the
 * launcher `name`. `alsoStarted`: other modules the program starts by URL (workers), analysed into the
 * caches with it.
 */
async function selfContained(
  dir: string,
  bundleFile: string,
  name: string,
  denoFlags: string[],
  alsoStarted: string[] = [],
): Promise<string> {
  const root = JSON.parse(await Deno.readTextFile(path.join(ROOT, "deno.json")));
  const config = {
    imports: { "@libsql/client": root.imports["@libsql/client"], libsql: root.imports.libsql },
    nodeModulesDir: "none",
    // The lock names packages whose build scripts the repository denies: without the same denial Deno
    // printed "Ignored build scripts for packages: npm:core-js-pure" at a first start, and at every start
    // where the artifact cannot be written (a service's read-only /opt/conduit).
    ...(root.allowScripts ? { allowScripts: root.allowScripts } : {}),
    unstable: root.unstable ?? [],
  };
  await Deno.writeTextFile(path.join(dir, "deno.json"), JSON.stringify(config, null, 2) + "\n");
  await Deno.copyFile(path.join(ROOT, "deno.lock"), path.join(dir, "deno.lock"));
  const info = JSON.parse(
    await deno(["info", "--json", "--config", path.join(dir, "deno.json"), bundleFile], dir),
  );
  const cache = JSON.parse(await deno(["info", "--json"])).npmCache as string;
  const from = path.join(cache, "registry.npmjs.org");
  const to = path.join(dir, "deno_dir", "npm", "registry.npmjs.org");
  for (const id of Object.keys(info.npmPackages ?? {})) {
    const at = id.lastIndexOf("@");
    const pkg = id.slice(0, at), version = id.slice(at + 1).split("_")[0];
    await Deno.mkdir(path.join(to, pkg), { recursive: true });
    await Deno.copyFile(path.join(from, pkg, "registry.json"), path.join(to, pkg, "registry.json"));
    // Packages for other platforms (optional dependencies) were never downloaded: not needed here either.
    if (await Deno.stat(path.join(from, pkg, version)).then(() => true, () => false)) {
      await copyTree(path.join(from, pkg, version), path.join(to, pkg, version));
    }
  }
  // Deno analyses every module of the bundle on its first start and keeps what that took: a first start
  // of the agent with empty caches idled at 125 MB against 70-72 for every later one. The build does
  // that analysis once, into the artifact's own caches.
  await deno(["cache", "--config", path.join(dir, "deno.json"), bundleFile, ...alsoStarted], dir, {
    DENO_DIR: path.join(dir, "deno_dir"),
  });
  const launcher = path.join(dir, name);
  const rel = path.relative(dir, bundleFile);
  await Deno.writeTextFile(
    launcher,
    `#!/bin/sh
# Starts ${name} from this directory's bundle, with the npm packages it carries (no registry needed).
here=$(cd "$(dirname "$0")" && pwd)
DENO_DIR="$here/deno_dir" exec "\${DENO:-deno}" run -A --cached-only ${denoFlags.join(" ")} \\
  --config "$here/deno.json" "$here/${rel}" "$@"
`,
  );
  await Deno.chmod(launcher, 0o755);
  return launcher;
}

/** The agent's workers, started by URL (agent/worker_url.ts). */
const AGENT_WORKERS = ["agent/transcode/worker.ts", "agent/render/worker.ts", "agent/deid/worker.ts"];

/** The agent's bundle in `dir` (dist/agent); returns its launcher. */
export async function bundleAgent(dir = path.join(ROOT, "dist/agent")): Promise<string> {
  const out = await bundleSplit("agent/main_packaged.ts", AGENT_WORKERS, dir);
  // dcmjs-codecs' WebAssembly, where agent/transcode/codec.ts looks for it in the bundle.
  const codecs = path.dirname(fileURLToPath(import.meta.resolve("dcmjs-codecs")));
  await Deno.copyFile(
    path.join(codecs, "dcmjs-native-codecs.wasm"),
    path.join(dir, "dcmjs-native-codecs.wasm"),
  );
  await copyTree(path.join(ROOT, "agent/index/migrations"), path.join(dir, "migrations"));
  // Which build this is: the bundle has no .git (agent/version.ts reads it beside its chunks).
  await writeStamp(dir);
  return await selfContained(dir, out, "conduit-agent", [
    "--no-code-cache",
    "--v8-flags=--expose-gc,--max-semi-space-size=1",
  ], AGENT_WORKERS.map((w) => path.join(dir, path.basename(path.dirname(w)), "worker.js")));
}

/** The hub's bundle in `dir` (dist/hub) with the console and the viewer; returns its launcher. */
export async function bundleHub(dir = path.join(ROOT, "dist/hub")): Promise<string> {
  const out = path.join(dir, "hub/main.js");
  await bundle("hub/main_packaged.ts", out);
  await copyTree(path.join(ROOT, "hub/db/migrations"), path.join(dir, "hub/migrations"));
  await copyTree(path.join(ROOT, "hub/db/migrations_pg"), path.join(dir, "hub/migrations_pg"));
  await writeStamp(path.join(dir, "hub"));
  await copyTree(path.join(ROOT, "ui/dist"), path.join(dir, "ui/dist"));
  await copyTree(path.join(ROOT, "ui/viewer"), path.join(dir, "ui/viewer"));
  return await selfContained(dir, out, "conduit-hub", []);
}
