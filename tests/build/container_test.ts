/**
 * deploy/container/Containerfile.*, built as far as a machine without a container runtime can: the files its
 * COPY lines take from a checkout (`git ls-files`) laid out under its WORKDIR, its `deno install` RUN lines run
 * there with the image's DENO_DIR, then its ENTRYPOINT (and CMD) started from there. The program must start
 * and serve (the agent stores an object sent by storescu; the hub's admin CLI lists sites) and write nothing
 * under the WORKDIR: in the image that is root's, made by the build, and the image's USER cannot write it, so
 * whatever Deno had to install there at start would fail (`Permission denied` on node_modules) in the image.
 * Its build stamp (the `CONDUIT_BUILD` build argument, deploy/stamp.ts) is what the program's `--version` says.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { REPO } from "../support/markdown.ts";
import { answersOk, onFreePorts, skipReason, spawnLogged, waitReady } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { formatBuild } from "@conduit/shared/build";
import { STAMP } from "../../deploy/stamp.ts";
import { BUILD } from "../../agent/version.ts";

const ROOT = fileURLToPath(REPO);

/** The instructions of a Containerfile that this test follows. */
export interface Containerfile {
  workdir: string;
  copies: { sources: string[]; dest: string }[];
  runs: string[];
  entrypoint: string[];
  cmd: string[];
}

/** Parses the instructions (one per line; comments and others skipped). */
export function parseContainerfile(text: string): Containerfile {
  const out: Containerfile = { workdir: "/", copies: [], runs: [], entrypoint: [], cmd: [] };
  for (const line of text.split("\n")) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, op, rest] = m;
    if (op === "WORKDIR") out.workdir = rest;
    else if (op === "COPY") {
      const words = rest.split(/\s+/);
      out.copies.push({ sources: words.slice(0, -1), dest: words.at(-1)! });
    } else if (op === "RUN") out.runs.push(rest);
    else if (op === "ENTRYPOINT") out.entrypoint = JSON.parse(rest);
    else if (op === "CMD") out.cmd = JSON.parse(rest);
  }
  return out;
}

const tracked = (): string[] =>
  new TextDecoder().decode(
    new Deno.Command("git", { args: ["ls-files", "-z"], cwd: ROOT, stdout: "piped" }).outputSync().stdout,
  ).split("\0").filter(Boolean);

/** Lays out under `dir` the tracked files each COPY takes (a source: a file, a folder, or a `*` pattern). */
function copyInto(dir: string, file: Containerfile, files: string[]): void {
  for (const { sources, dest } of file.copies) {
    for (const source of sources) {
      const glob = new RegExp(`^${source.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", "[^/]*")}$`);
      const matched = files.filter((f) => glob.test(f) || f.startsWith(`${source}/`));
      if (!source.includes("*")) {
        assert.ok(matched.length > 0, `COPY ${source}: no such file in the repository`);
      }
      for (const f of matched) {
        const to = f.startsWith(`${source}/`)
          ? path.join(dest, path.relative(source, f))
          : dest.endsWith("/") || sources.length > 1
          ? path.join(dest, path.basename(f))
          : dest;
        fs.mkdirSync(path.join(dir, path.dirname(to)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, f), path.join(dir, to));
      }
    }
  }
}

/**
 * Every path under `dir`, with its size and modification time for a file. A folder's time is left out: Deno
 * makes and removes a lock file in node_modules/.deno at each start, and where it cannot (the image's user) it
 * goes on without it.
 */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const p = path.join(entry.parentPath, entry.name);
    const st = fs.lstatSync(p);
    out.set(path.relative(dir, p), st.isDirectory() ? "folder" : `${st.size} ${st.mtimeMs}`);
  }
  return out;
}

/**
 * Deno's record of the node_modules set up: the agent's first start writes it again (its module graph is not
 * the whole workspace `deno install` recorded), and goes on without it where it may not (checked as a user who
 * cannot write the folder: it starts, stores and answers C-FIND).
 */
const SETUP_CACHE = "node_modules/.deno/.setup-cache.bin";

/** What changed under the WORKDIR between two snapshots. */
function written(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...after].filter(([p, v]) => before.get(p) !== v && p !== SETUP_CACHE).map(([p]) => p).sort()
    .slice(0, 10);
}

/** The program's command in the image, `deno` being this Deno and `/data` the given directory. */
const command = (argv: string[], data: string) =>
  argv.map((a) => (a === "/data" ? data : a)).map((a, i) => (i === 0 && a === "deno" ? Deno.execPath() : a));

interface Image {
  file: Containerfile;
  workdir: string;
  data: string;
  env: Record<string, string>;
}

/**
 * The image's WORKDIR and DENO_DIR in a temporary directory, its `deno install` steps run. DENO_DIR's npm
 * cache is this machine's, so nothing is downloaded; its stamp step runs in `sh` with `CONDUIT_BUILD` set to this
 * checkout's stamp, as `podman build --build-arg CONDUIT_BUILD="$(deno task build:stamp)"` gives it. Other
 * RUN steps are left out: `deno task build:ui` (the console; the hub starts without it) and the data volume's
 * `mkdir`/`chown`.
 */
async function build(name: string): Promise<Image> {
  const file = parseContainerfile(Deno.readTextFileSync(path.join(ROOT, `deploy/container/${name}`)));
  const dir = await Deno.makeTempDir({ prefix: "container-" });
  const workdir = path.join(dir, file.workdir);
  copyInto(workdir, file, tracked());
  const denoDir = path.join(dir, "deno-dir");
  const info = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
    .output();
  fs.mkdirSync(denoDir);
  fs.symlinkSync(JSON.parse(new TextDecoder().decode(info.stdout)).npmCache, path.join(denoDir, "npm"));
  const env = { DENO_DIR: denoDir, NO_COLOR: "1" };
  for (const run of file.runs.filter((r) => r.startsWith("deno install"))) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: run.split(/\s+/).slice(1),
      cwd: workdir,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, `${name}: RUN ${run}: ${new TextDecoder().decode(out.stderr)}`);
  }
  const stamps = file.runs.filter((r) => r.includes("$CONDUIT_BUILD"));
  assert.equal(stamps.length, 1, `${name}: one RUN writes the build stamp`);
  const stamped = await new Deno.Command("sh", {
    args: ["-c", stamps[0]],
    cwd: workdir,
    env: { CONDUIT_BUILD: STAMP },
    stderr: "piped",
  }).output();
  assert.equal(stamped.code, 0, `${name}: RUN ${stamps[0]}: ${new TextDecoder().decode(stamped.stderr)}`);
  const data = path.join(dir, "data");
  fs.mkdirSync(data);
  return { file, workdir, data, env };
}

/**
 * `--version` of the image's program (its ENTRYPOINT up to `entry`): the stamp's build, and with the stamp
 * removed (an image built without the argument) an unknown commit.
 */
async function assertVersion(image: Image, entry: string): Promise<void> {
  const argv = image.file.entrypoint;
  const version = async () => {
    const out = await new Deno.Command(argv[0], {
      args: [...argv.slice(1, argv.indexOf(entry) + 1), "--version"],
      cwd: image.workdir,
      env: image.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  };
  assert.equal(await version(), formatBuild(BUILD), "the image's program names the checkout's build");
  const stamp = path.join(image.workdir, path.dirname(entry), "build.json");
  const text = Deno.readTextFileSync(stamp);
  Deno.removeSync(stamp);
  try {
    assert.equal(await version(), `${BUILD.version} (unknown commit)`, "without a stamp");
  } finally {
    Deno.writeTextFileSync(stamp, text);
  }
}

const skip = skipReason("storescu");

Deno.test({
  name:
    "Containerfile.agent: the image's agent starts, stores an object, and writes nothing under its WORKDIR",
  ignore: Boolean(skip),
  fn: async () => {
    const image = await build("Containerfile.agent");
    await assertVersion(image, "agent/main.ts");
    const before = snapshot(image.workdir);
    // The image's CMD names its configuration file; one beside the data stands in for it.
    const config = path.join(image.data, "..", "agent.yaml");
    Deno.writeTextFileSync(config, "site: north\n");
    const argv = command([...image.file.entrypoint, ...image.file.cmd], image.data)
      .map((a) => a === "/etc/conduit/agent.yaml" ? config : a);
    const { proc, ports } = await onFreePorts(["dimse", "http"], [], async (ports) => {
      const args = [...argv.slice(1), "--port", String(ports[0]), "--http-port", String(ports[1])];
      const proc = await spawnLogged("container-agent", argv[0], args, image.workdir, image.env);
      await waitReady(proc, "agent", answersOk(`http://127.0.0.1:${ports[1]}/healthz`), 60_000, ports);
      return { proc, ports };
    });
    try {
      const file = path.join(image.data, "..", "ct.dcm");
      Deno.writeFileSync(
        file,
        generateInstance({
          modality: "CT",
          patientName: "CONTAINER^TEST",
          patientId: "CONTAINER-1",
          studyInstanceUid: uidFromKey("container/study"),
          seriesInstanceUid: uidFromKey("container/series"),
          sopInstanceUid: uidFromKey("container/sop"),
          instanceNumber: 1,
          rows: 16,
          columns: 16,
        }),
      );
      const sent = await storescu([file], { port: ports[0], aet: "CONDUIT" });
      assert.equal(sent.code, 0, sent.stderr);
    } finally {
      await proc.stop();
    }
    assert.deepEqual(written(before, snapshot(image.workdir)), [], "written under the image's WORKDIR");
  },
});

Deno.test("Containerfile.hub: the image's hub starts, its admin CLI runs, and neither writes under its WORKDIR", async () => {
  const image = await build("Containerfile.hub");
  await assertVersion(image, "hub/main.ts");
  const before = snapshot(image.workdir);
  const argv = command([...image.file.entrypoint, ...image.file.cmd], image.data);
  const { proc, port } = await onFreePorts(["http"], [], async ([port]) => {
    const proc = await spawnLogged(
      "container-hub",
      argv[0],
      [...argv.slice(1), "--port", String(port)],
      image.workdir,
      image.env,
    );
    await waitReady(proc, "hub", answersOk(`http://127.0.0.1:${port}/healthz`), 60_000, [port]);
    return { proc, port };
  });
  try {
    assert.ok(port > 0);
    const admin = await new Deno.Command(argv[0], {
      args: [
        ...argv.slice(1, argv.indexOf("hub/main.ts") + 1),
        "admin",
        "site",
        "list",
        "--json",
        "--data",
        image.data,
      ],
      cwd: image.workdir,
      env: image.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(admin.code, 0, new TextDecoder().decode(admin.stderr));
  } finally {
    await proc.stop();
  }
  assert.deepEqual(written(before, snapshot(image.workdir)), [], "written under the image's WORKDIR");
});
