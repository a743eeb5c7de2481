/**
 * The de-identification benchmark (issue 13): objects per second through `agent deid --profile basic` over
 * the 0.526 MB CT series, against GDCM's `gdcmanon -e` (the basic profile of an older edition, encrypting what
 * it removes) on the same files in the same run, both as one command over one directory, three rounds
 * interleaved; and the peak RSS of `agent deid` on one 200 MB multi-frame object. Peak RSS comes from GNU
 * time, wall time from this process's clock around it. `--quick`: 100 objects, one round, a 50 MB object.
 */
import * as path from "node:path";
import type { Benchmark, BenchOptions, BenchResult } from "./main.ts";
import { fixed, freshPages, generateCtSeries, MB, median, syncDisks } from "./_shared.ts";
import { deidStages } from "./_deid_stages.ts";

const ROOT = new URL("../", import.meta.url).pathname;
const SPEED_TARGET = 2;
const RSS_TARGET_MB = 150;

interface Timed {
  seconds: number;
  peakRss: number;
  code: number;
  stderr: string;
}

/**
 * Runs a command under GNU time: its peak RSS (bytes) from GNU time, its wall seconds measured here
 * (GNU time's `%e` counts hundredths of a second: up to a fifth of the difference the rate without
 * start-up is computed from, 30 ms for gdcmanon's 400 objects in a fast run).
 */
async function timed(cmd: string, args: string[]): Promise<Timed> {
  const started = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %M", cmd, ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  const m = /TIME ([0-9.]+) ([0-9]+)\s*$/.exec(stderr);
  if (!m) throw new Error(`no timing from ${cmd}: ${stderr.slice(-400)}`);
  const seconds = (performance.now() - started) / 1000;
  return { seconds, peakRss: Number(m[2]) * 1024, code: out.code, stderr };
}

/** Reads every file once, so that each tool starts with its input in the page cache (no order bias). */
async function warm(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) if (e.isFile) await Deno.readFile(path.join(dir, e.name));
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
    // Throughput without start-up: each tool also runs over the first fifth of the series, and the
    // difference in time gives the rate for the other four fifths (start-up and JIT warm-up cancel).
    const small = path.join(workDir, "small");
    await Deno.mkdir(small);
    const input = path.dirname(series.paths[0]);
    const fifth = Math.floor(n / 5);
    for (const p of series.paths.slice(0, fifth)) await Deno.copyFile(p, path.join(small, path.basename(p)));
    const marginal: { ours: number[]; theirs: number[] } = { ours: [], theirs: [] };
    const rss: { ours: number[]; theirs: number[] } = { ours: [], theirs: [] };
    const rounds = quick ? 1 : 3;
    // Each timed run starts with as much page cache just freed as it will write (freshPages).
    const junk = path.join(workDir, "junk");
    for (let round = 0; round < rounds; round++) {
      const a = path.join(workDir, `ours-${round}`);
      await syncDisks();
      await warm(input);
      freshPages(junk, series.bytes);
      const t = await timed(agent[0], [
        ...agent.slice(1),
        "--key-file",
        key,
        "--in",
        input,
        "--out",
        a,
        "--json",
      ]);
      if (t.code !== 0) throw new Error(`agent deid exited ${t.code}: ${t.stderr.slice(-400)}`);
      if ((await fileCount(a)) !== n) throw new Error(`agent deid wrote ${await fileCount(a)} of ${n}`);
      ours.push(n / t.seconds);
      rss.ours.push(t.peakRss);
      await warm(small);
      freshPages(junk, series.bytes / 5);
      const ts = await timed(agent[0], [
        ...agent.slice(1),
        "--key-file",
        key,
        "--in",
        small,
        "--out",
        `${a}-small`,
        "--json",
      ]);
      marginal.ours.push((n - fifth) / (t.seconds - ts.seconds));
      log(`round ${round + 1}: agent deid ${fixed(n / t.seconds)} objects/s`);

      const g = path.join(workDir, `gdcm-${round}`);
      await Deno.mkdir(g);
      await syncDisks();
      await warm(input);
      freshPages(junk, series.bytes);
      const u = await timed("/usr/bin/gdcmanon", [
        "-e",
        "-c",
        cert,
        "-i",
        input,
        "-o",
        g,
      ]);
      if (u.code !== 0) throw new Error(`gdcmanon exited ${u.code}: ${u.stderr.slice(-400)}`);
      if ((await fileCount(g)) !== n) throw new Error(`gdcmanon wrote ${await fileCount(g)} of ${n}`);
      theirs.push(n / u.seconds);
      rss.theirs.push(u.peakRss);
      await Deno.mkdir(`${g}-small`);
      await warm(small);
      freshPages(junk, series.bytes / 5);
      const us = await timed("/usr/bin/gdcmanon", ["-e", "-c", cert, "-i", small, "-o", `${g}-small`]);
      marginal.theirs.push((n - fifth) / (u.seconds - us.seconds));
      log(`round ${round + 1}: gdcmanon ${fixed(n / u.seconds)} objects/s`);
      for (const d of [a, `${a}-small`, g, `${g}-small`]) await Deno.remove(d, { recursive: true });
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

    const ratio = median(marginal.ours) / median(marginal.theirs);
    const wholeRatio = median(ours) / median(theirs);
    log("per-stage budget (this thread, after warm-up)");
    const budget = await deidStages(series.paths, path.join(workDir, "stages"));
    return {
      tables: [
        {
          title: `${n} CT objects (0.526 MB), one command over one directory, median of ${rounds}`,
          columns: [
            "tool",
            "objects/s, whole command",
            "objects/s, without start-up",
            "runs (whole)",
            "peak RSS MB",
          ],
          rows: [
            [
              "agent deid --profile basic",
              fixed(median(ours)),
              fixed(median(marginal.ours)),
              ours.map((v) => fixed(v)).join(" / "),
              fixed(median(rss.ours) / MB),
            ],
            [
              "gdcmanon -e",
              fixed(median(theirs)),
              fixed(median(marginal.theirs)),
              theirs.map((v) => fixed(v)).join(" / "),
              fixed(median(rss.theirs) / MB),
            ],
          ],
        },
        {
          title: "agent deid's budget per object on one thread, after warm-up (microseconds)",
          columns: ["stage", "µs (median)", "µs (mean)"],
          rows: [
            ...Object.entries(budget.stages).map(([k, v]) => [k, fixed(v), fixed(budget.means[k])]),
            [
              "sum of stages",
              fixed(Object.values(budget.stages).reduce((a, b) => a + b, 0)),
              fixed(Object.keys(budget.stages).reduce((a, k) => a + budget.means[k], 0)),
            ],
            ["deidentifyFile() as a whole", fixed(budget.whole), fixed(budget.means.whole)],
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
          label: `objects/s without start-up >= ${SPEED_TARGET} x gdcmanon`,
          measured: `${ratio.toFixed(2)}x (whole command ${wholeRatio.toFixed(2)}x)`,
          pass: ratio >= SPEED_TARGET,
        },
        {
          label: `peak RSS <= ${RSS_TARGET_MB} MB on the ${fixed(size / MB)} MB object`,
          measured: `${fixed(big.peakRss / MB)} MB`,
          pass: big.peakRss / MB <= RSS_TARGET_MB,
        },
      ],
      notes: [
        "'whole command' includes each tool's start-up (for agent deid: Deno, its module graph and the JIT's warm-up, about 0.15 s here; no workers by default on two CPUs); 'without start-up' is the rate over the last four fifths of the series, from the difference with a run over the first fifth.",
        "gdcmanon -e encrypts what it removes (AES-256 to an RSA certificate); agent deid computes keyed pseudonyms.",
        "agent deid does not fsync each output (like gdcmanon); routes and transfers do.",
      ],
      data: {
        n,
        rounds,
        ours,
        theirs,
        marginal,
        rss,
        budget,
        big: { frames, size, seconds: big.seconds, peakRss: big.peakRss },
      },
    };
  },
};
