/**
 * The de-identification benchmark (issue 13): objects per second through `agent deid --profile basic` over
 * the 0.526 MB CT series, against GDCM's `gdcmanon -e` (the basic profile of an older edition, encrypting what
 * it removes) on the same files in the same run, both as one command over one directory, three rounds
 * interleaved; and the peak RSS of `agent deid` on one 200 MB multi-frame object. Wall time and peak RSS come
 * from GNU time. `--quick`: 100 objects, one round, a 50 MB object.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { fixed, generateCtSeries, MB, median, syncDisks } from "./_shared.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SPEED_TARGET = 2;
const RSS_TARGET_MB = 150;

interface Timed {
  seconds: number;
  peakRss: number;
  code: number;
  stderr: string;
}

/** Runs a command under GNU time; wall seconds and peak RSS (bytes) of the command. */
async function timed(cmd: string, args: string[]): Promise<Timed> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %M", cmd, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const m = /TIME ([0-9.]+) ([0-9]+)\s*$/.exec(stderr);
  if (!m) throw new Error(`no timing from ${cmd}: ${stderr.slice(-400)}`);
  return { seconds: Number(m[1]), peakRss: Number(m[2]) * 1024, code: out.code, stderr };
}

async function fileCount(dir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(dir)) if (e.isFile) n++;
  return n;
}

async function run(cmd: string[], what: string) {
  const out = await new Deno.Command(cmd[0], { args: cmd.slice(1), stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${what}: ${new TextDecoder().decode(out.stderr).slice(-400)}`);
}

export const deid: Benchmark = {
  name: "deid",
  description:
    "agent deid --profile basic vs gdcmanon -e on the CT series; peak RSS on a 200 MB multi-frame object",
  async run({ quick, workDir, log }: BenchOptions): Promise<BenchResult> {
    for (const tool of ["/usr/bin/time", "/usr/bin/gdcmanon", "/usr/bin/openssl", "/usr/bin/dcmodify"]) {
      if (!(await Deno.stat(tool).then(() => true, () => false))) throw new Error(`deid bench needs ${tool}`);
    }
    const n = quick ? 100 : 500;
    const series = await generateCtSeries(path.join(workDir, "series"), n, log);
    const key = path.join(workDir, "project.key");
    await Deno.writeFile(key, crypto.getRandomValues(new Uint8Array(32)));
    const cert = path.join(workDir, "cert.pem");
    await run([
      "openssl",
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      path.join(workDir, "key.pem"),
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=bench",
    ], "openssl");
    const deno = Deno.execPath();
    const agent = [deno, "run", "-A", path.join(ROOT, "agent/main.ts"), "deid", "--profile", "basic"];

    const ours: number[] = [];
    const theirs: number[] = [];
    const rss: { ours: number[]; theirs: number[] } = { ours: [], theirs: [] };
    const rounds = quick ? 1 : 3;
    for (let round = 0; round < rounds; round++) {
      const a = path.join(workDir, `ours-${round}`);
      await syncDisks();
      const t = await timed(agent[0], [
        ...agent.slice(1),
        "--key-file",
        key,
        "--in",
        series.paths[0].replace(/\/[^/]+$/, ""),
        "--out",
        a,
        "--json",
      ]);
      if (t.code !== 0) throw new Error(`agent deid exited ${t.code}: ${t.stderr.slice(-400)}`);
      if ((await fileCount(a)) !== n) throw new Error(`agent deid wrote ${await fileCount(a)} of ${n}`);
      ours.push(n / t.seconds);
      rss.ours.push(t.peakRss);
      log(`round ${round + 1}: agent deid ${fixed(n / t.seconds)} objects/s`);

      const g = path.join(workDir, `gdcm-${round}`);
      await Deno.mkdir(g);
      await syncDisks();
      const u = await timed("/usr/bin/gdcmanon", [
        "-e",
        "-c",
        cert,
        "-i",
        path.dirname(series.paths[0]),
        "-o",
        g,
      ]);
      if (u.code !== 0) throw new Error(`gdcmanon exited ${u.code}: ${u.stderr.slice(-400)}`);
      if ((await fileCount(g)) !== n) throw new Error(`gdcmanon wrote ${await fileCount(g)} of ${n}`);
      theirs.push(n / u.seconds);
      rss.theirs.push(u.peakRss);
      log(`round ${round + 1}: gdcmanon ${fixed(n / u.seconds)} objects/s`);
      await Deno.remove(a, { recursive: true });
      await Deno.remove(g, { recursive: true });
    }

    // One multi-frame object: a generated CT with its pixel data sized for N frames of 512 x 512 x 16 bit.
    const frames = quick ? 96 : 382;
    const bigDir = path.join(workDir, "big");
    await run([
      deno,
      "run",
      "-A",
      path.join(ROOT, "tests/tools/generate.ts"),
      "--out",
      bigDir,
      "--count",
      "1",
      "--pixel-bytes",
      String(512 * 512 * 2 * frames),
      "--seed",
      "bench-deid-big",
    ], "generate");
    const bigFile = path.join(bigDir, "1.dcm");
    await run([
      "dcmodify",
      "-nb",
      "-m",
      "(0028,0010)=512",
      "-m",
      "(0028,0011)=512",
      "-i",
      `(0028,0008)=${frames}`,
      bigFile,
    ], "dcmodify");
    const size = (await Deno.stat(bigFile)).size;
    await syncDisks();
    const big = await timed(agent[0], [
      ...agent.slice(1),
      "--key-file",
      key,
      "--in",
      bigFile,
      "--out",
      path.join(workDir, "big-out"),
      "--json",
    ]);
    if (big.code !== 0) throw new Error(`agent deid (big) exited ${big.code}: ${big.stderr.slice(-400)}`);
    log(
      `${fixed(size / MB)} MB multi-frame object: ${fixed(big.seconds, 1)} s, peak RSS ${
        fixed(big.peakRss / MB)
      } MB`,
    );

    const ratio = median(ours) / median(theirs);
    return {
      tables: [
        {
          title: `${n} CT objects (0.526 MB), one command over one directory, median of ${rounds}`,
          columns: ["tool", "objects/s", "runs", "peak RSS MB"],
          rows: [
            [
              "agent deid --profile basic",
              fixed(median(ours)),
              ours.map((v) => fixed(v)).join(" / "),
              fixed(median(rss.ours) / MB),
            ],
            [
              "gdcmanon -e",
              fixed(median(theirs)),
              theirs.map((v) => fixed(v)).join(" / "),
              fixed(median(rss.theirs) / MB),
            ],
          ],
        },
        {
          title: `one multi-frame object (${frames} frames, ${fixed(size / MB)} MB)`,
          columns: ["tool", "seconds", "peak RSS MB"],
          rows: [["agent deid --profile basic", fixed(big.seconds, 1), fixed(big.peakRss / MB)]],
        },
      ],
      targets: [
        {
          label: `objects/s >= ${SPEED_TARGET} x gdcmanon`,
          measured: `${ratio.toFixed(2)}x`,
          pass: ratio >= SPEED_TARGET,
        },
        {
          label: `peak RSS <= ${RSS_TARGET_MB} MB on the ${fixed(size / MB)} MB object`,
          measured: `${fixed(big.peakRss / MB)} MB`,
          pass: big.peakRss / MB <= RSS_TARGET_MB,
        },
      ],
      notes: [
        "Both times include process start-up (Deno and its module graph for the agent).",
        "gdcmanon -e encrypts what it removes (AES-256 to an RSA certificate); agent deid computes keyed pseudonyms.",
        "agent deid does not fsync each output (like gdcmanon); routes and transfers do.",
      ],
      data: {
        n,
        rounds,
        ours,
        theirs,
        rss,
        big: { frames, size, seconds: big.seconds, peakRss: big.peakRss },
      },
    };
  },
};
