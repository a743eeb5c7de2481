import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { readPart10Header } from "@conduit/shared/dicom";
import { deidentifyBatch } from "./pool.ts";
import type { DeidResult } from "./engine.ts";

Deno.test("deidentifyBatch() gives every file one result, with workers and on this thread alike", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-pool-" });
  const inputs: string[] = [];
  for (
    const [i, spec] of [...generateStudies({
      seed: "pool",
      patients: 2,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 4 }],
      rows: 8,
      columns: 8,
    })].entries()
  ) {
    inputs.push(path.join(dir, `${i}.dcm`));
    await Deno.writeFile(inputs[i], generateInstance(spec));
  }
  inputs.push(path.join(dir, "broken.dcm"));
  await Deno.writeTextFile(inputs[inputs.length - 1], "not DICOM");
  const settings = { options: ["retain-uids"], key: new Uint8Array(32).fill(1), sync: false };
  for (const jobs of [1, 3]) {
    const out = path.join(dir, `out-${jobs}`);
    await Deno.mkdir(out);
    const results = new Map<number, DeidResult>();
    const by = await deidentifyBatch(
      inputs.map((input) => ({ input, output: { dir: out } })),
      settings,
      jobs,
      (i, r) => {
        assert.ok(!results.has(i), `file ${i} reported twice`);
        results.set(i, r);
      },
    );
    assert.equal(results.size, inputs.length);
    assert.deepEqual(
      by,
      jobs === 1
        ? { byWorkers: 0, onThisThread: inputs.length }
        : { byWorkers: inputs.length, onThisThread: 0 },
    );
    assert.equal(results.get(inputs.length - 1)!.status, "failed");
    const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    assert.equal(names.length, inputs.length - 1);
    // Retain UIDs: each output is named by its (kept) SOP Instance UID.
    for (const input of inputs.slice(0, -1)) {
      const uid = readPart10Header(await Deno.readFile(input)).sopInstanceUid;
      assert.ok(names.includes(`${uid}.dcm`), `${uid}.dcm missing`);
    }
  }
});

Deno.test("deidentifyBatch() refuses bad options before any file", async () => {
  await assert.rejects(
    deidentifyBatch(
      [{ input: "/nonexistent", output: "/nonexistent.out" }],
      {
        options: ["retain-everything"],
        key: new Uint8Array(32),
      },
      2,
      () => assert.fail("no file should be done"),
    ),
    /unknown de-identification option/,
  );
});
