import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { parseGenerateArgs, writeGeneratedSeries } from "./generate.ts";
import { DENO_RUN_FLAGS } from "../support/processes.ts";

const TOOL = fileURLToPath(new URL("./generate.ts", import.meta.url));

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "conduit-generate-tool-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("writeGeneratedSeries writes 1.dcm..N.dcm byte-identical to generateInstance", async () => {
  await withDir(async (dir) => {
    const out = path.join(dir, "series");
    const s = await writeGeneratedSeries(out, {
      count: 3,
      rows: 40,
      columns: 30,
      seed: "s1",
      modality: "MR",
    });
    const specs = [
      ...generateStudies({
        seed: "s1",
        patients: 1,
        studiesPerPatient: 1,
        series: [{ modality: "MR", instances: 3 }],
        rows: 40,
        columns: 30,
      }),
    ];
    assert.equal(s.files, 3);
    assert.deepEqual(s.paths, [1, 2, 3].map((n) => path.join(out, `${n}.dcm`)));
    assert.equal(s.studyUid, specs[0].studyInstanceUid);
    assert.equal(s.seriesUid, specs[0].seriesInstanceUid);
    let total = 0;
    for (const [i, spec] of specs.entries()) {
      const bytes = await Deno.readFile(s.paths[i]);
      assert.deepEqual(bytes, generateInstance(spec));
      total += bytes.length;
    }
    assert.equal(s.bytes, total);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(out))).map((e) => e.name).sort(), [
      "1.dcm",
      "2.dcm",
      "3.dcm",
    ]);
  });
});

Deno.test("writeGeneratedSeries forwards pixelBytes and streams multi-chunk files", async () => {
  await withDir(async (dir) => {
    const pixelBytes = 10 * 1024 * 1024;
    const s = await writeGeneratedSeries(dir, { pixelBytes });
    const [spec] = generateStudies({
      seed: "conduit",
      patients: 1,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 1 }],
    });
    const bytes = await Deno.readFile(s.paths[0]);
    assert.deepEqual(bytes, generateInstance({ ...spec, pixelBytes }));
    assert.ok(s.bytes > pixelBytes && s.bytes < pixelBytes + 4096);
  });
});

Deno.test("writeGeneratedSeries rejects bad options before creating any file", async () => {
  await withDir(async (dir) => {
    await assert.rejects(() => writeGeneratedSeries(dir, { pixelBytes: 3 }), RangeError);
    await assert.rejects(() => writeGeneratedSeries(dir, { count: 0 }), RangeError);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  });
});

Deno.test("parseGenerateArgs reads every option and rejects bad ones", () => {
  assert.deepEqual(
    parseGenerateArgs([
      "--out",
      "d",
      "--count",
      "4",
      "--rows",
      "10",
      "--columns",
      "12",
      "--pixel-bytes",
      "240",
      "--seed",
      "x",
      "--modality",
      "mr",
    ]),
    { out: "d", options: { count: 4, rows: 10, columns: 12, pixelBytes: 240, seed: "x", modality: "MR" } },
  );
  assert.throws(() => parseGenerateArgs(["--count", "2"]), /--out/);
  assert.throws(() => parseGenerateArgs(["--out", "d", "--count", "-1"]), /--count/);
  assert.throws(() => parseGenerateArgs(["--out", "d", "--modality", "US"]), /--modality/);
  assert.throws(() => parseGenerateArgs(["--out", "d", "--bogus"]));
});

Deno.test("the CLI prints one JSON line {files, bytes, studyUid}", async () => {
  await withDir(async (dir) => {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        ...DENO_RUN_FLAGS,
        TOOL,
        "--out",
        dir,
        "--count",
        "2",
        "--rows",
        "16",
        "--columns",
        "16",
        "--seed",
        "cli",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(r.stdout);
    assert.equal(r.code, 0, new TextDecoder().decode(r.stderr));
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, 1, stdout);
    const summary = JSON.parse(lines[0]);
    assert.deepEqual(Object.keys(summary), ["files", "bytes", "studyUid"]);
    assert.equal(summary.files, 2);
    const sizes = await Promise.all(
      ["1.dcm", "2.dcm"].map(async (f) => (await Deno.stat(path.join(dir, f))).size),
    );
    assert.equal(summary.bytes, sizes[0] + sizes[1]);
    assert.match(summary.studyUid, /^2\.25\.[0-9]+$/);

    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...DENO_RUN_FLAGS, TOOL, "--out", dir, "--modality", "XA"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 2);
    assert.match(new TextDecoder().decode(bad.stderr), /usage:/);
  });
});
