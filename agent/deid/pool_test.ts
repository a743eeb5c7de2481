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

Deno.test("deidentifyBatch() never lets two inputs with one SOP Instance UID replace each other's output", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-pool-" });
  const [spec] = generateStudies({
    seed: "twins",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows: 8,
    columns: 8,
  });
  // One SOP Instance, two different objects (another Instance Number and pixel pattern: other bytes): the same output name.
  const inputs = [path.join(dir, "a.dcm"), path.join(dir, "b.dcm"), path.join(dir, "c.dcm")];
  await Deno.writeFile(inputs[0], generateInstance(spec));
  await Deno.writeFile(inputs[1], generateInstance({ ...spec, instanceNumber: spec.instanceNumber + 7 }));
  await Deno.writeFile(inputs[2], generateInstance(spec));
  const settings = { options: [], key: new Uint8Array(32).fill(2), sync: false };
  for (const jobs of [1, 2]) {
    const out = path.join(dir, `out-${jobs}`);
    await Deno.mkdir(out);
    const results: DeidResult[] = [];
    const order: number[] = [];
    await deidentifyBatch(
      inputs.map((input) => ({ input, output: { dir: out } })),
      settings,
      jobs,
      (i, r) => {
        order.push(i);
        results[i] = r;
      },
    );
    assert.deepEqual(order, [0, 1, 2], "reported in the inputs' order");
    const done = results.flatMap((r, i) => r.status === "done" ? [i] : []);
    assert.deepEqual(done, [0], `the first input is done, whatever the jobs: ${JSON.stringify(results)}`);
    const uid = (results[done[0]] as { sopInstanceUid: string }).sopInstanceUid;
    for (const r of results.filter((r) => r.status !== "done")) {
      assert.equal(r.status, "failed");
      assert.match(
        (r as { reason: string }).reason,
        new RegExp(
          `^same SOP Instance UID as ${dir}/a\\.dcm, whose output is .*${uid}\\.dcm: not written$`,
        ),
      );
    }
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), [`${uid}.dcm`], "no other file left");
    // The file there is the output of the input reported done, not of another one that replaced it.
    const alone = path.join(dir, `alone-${jobs}`);
    await Deno.mkdir(alone);
    await deidentifyBatch([{ input: inputs[done[0]], output: { dir: alone } }], settings, 1, () => {});
    assert.deepEqual(
      await Deno.readFile(path.join(out, `${uid}.dcm`)),
      await Deno.readFile(path.join(alone, `${uid}.dcm`)),
    );
  }
});
