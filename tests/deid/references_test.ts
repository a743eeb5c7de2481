/**
 * Referential integrity across separately de-identified objects: SEG, RTSTRUCT and SR references point at
 * the remapped UIDs, and two series of one study de-identified in separate runs land in one study.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import type { DataSet } from "@conduit/shared/dicom";
import { pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { agentCli } from "../support/agent.ts";
import { PYDICOM_TEST_FILES_DIR } from "../support/peers.ts";
import { buildSeg } from "./_seg.ts";
import { parsePart10 } from "../support/ps315_walk.ts";

const KEY = "references test key, 32 bytes..";

async function deid(dir: string, input: string, out: string, extra: string[] = []) {
  const r = await agentCli([
    "deid",
    "--profile",
    "basic",
    ...extra,
    "--key-file",
    path.join(dir, "key"),
    "--in",
    input,
    "--out",
    out,
    "--allow-burned-in",
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  return [...Deno.readDirSync(out)].map((e) => path.join(out, e.name));
}

/** Every UI value at every path: `tag[item]/tag` -> value. */
function uids(file: Uint8Array): Map<string, string> {
  const p = parsePart10(file);
  const out = new Map<string, string>();
  const visit = (ds: DataSet, where: string) => {
    for (const el of ds.elements) {
      const name = `${where}${el.tag.toString(16).padStart(8, "0")}`;
      if (el.items) el.items.forEach((item, i) => visit(item, `${name}[${i}]/`));
      else if (el.vr === "UI" && el.length > 0) {
        out.set(
          name,
          new TextDecoder().decode(p.bytes.subarray(el.valueOffset, el.end)).replace(/[\0 ]+$/, ""),
        );
      }
    }
  };
  visit(p.dataset, "");
  return out;
}

const value = (m: Map<string, string>, key: string) => m.get(key) ?? assert.fail(`${key} missing`);

Deno.test("a SEG and its images de-identified in separate runs still reference each other", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-refs-" });
  await Deno.writeTextFile(path.join(dir, "key"), KEY);
  await Deno.mkdir(path.join(dir, "ct"));
  await Deno.mkdir(path.join(dir, "seg"));
  const specs = [...generateStudies({
    seed: "seg-refs",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 3 }],
    rows: 16,
    columns: 16,
  })];
  for (const [i, s] of specs.entries()) {
    await Deno.writeFile(path.join(dir, "ct", `${i}.dcm`), generateInstance(s));
  }
  const ctIn = uids(await Deno.readFile(path.join(dir, "ct", "0.dcm")));
  const seg = buildSeg({
    studyInstanceUid: specs[0].studyInstanceUid,
    seriesInstanceUid: specs[0].seriesInstanceUid,
    frameOfReferenceUid: value(ctIn, "00200052"),
    patientId: specs[0].patientId,
    patientName: specs[0].patientName,
    images: specs.map((s) => ({ sopClassUid: value(ctIn, "00080016"), sopInstanceUid: s.sopInstanceUid })),
  }, (suffix) => `2.25.77${suffix.length}${suffix.replace(/\D/g, "")}1`);
  await Deno.writeFile(path.join(dir, "seg", "seg.dcm"), seg);

  const cts = await deid(dir, path.join(dir, "ct"), path.join(dir, "ct-out"));
  const [segOut] = await deid(dir, path.join(dir, "seg"), path.join(dir, "seg-out"));
  const ctUids = await Promise.all(cts.map(async (f) => uids(await Deno.readFile(f))));
  const images = new Set(ctUids.map((u) => value(u, "00080018")));
  assert.equal(images.size, 3);
  for (const original of specs.map((s) => s.sopInstanceUid)) assert.ok(!images.has(original));
  const s = uids(await Deno.readFile(segOut));
  assert.equal(value(s, "0020000d"), value(ctUids[0], "0020000d"), "same study");
  assert.equal(value(s, "00200052"), value(ctUids[0], "00200052"), "same frame of reference");
  assert.equal(value(s, "00081115[0]/0020000e"), value(ctUids[0], "0020000e"), "referenced series");
  const referenced = [...s].filter(([k]) => k.endsWith("/00081155")).map(([, v]) => v);
  assert.equal(
    referenced.length,
    6,
    "three in the Referenced Series Sequence, three in Source Image Sequences",
  );
  for (const r of referenced) assert.ok(images.has(r), `${r} is not one of the de-identified images`);
});

for (const name of ["rtstruct.dcm", "test-SR.dcm", "reportsi.dcm"]) {
  Deno.test({
    name: `${name}: every nested reference is the keyed mapping of the original`,
    ignore: !(await Deno.stat(path.join(PYDICOM_TEST_FILES_DIR, name)).then(() => true, () => false)),
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "deid-refs-" });
      await Deno.writeTextFile(path.join(dir, "key"), KEY);
      await Deno.mkdir(path.join(dir, "in"));
      await Deno.copyFile(path.join(PYDICOM_TEST_FILES_DIR, name), path.join(dir, "in", name));
      const [out] = await deid(dir, path.join(dir, "in"), path.join(dir, "out"));
      const before = uids(await Deno.readFile(path.join(dir, "in", name)));
      const after = uids(await Deno.readFile(out));
      const key = new TextEncoder().encode(KEY);
      // Instance references (SOP Instance, Study, Series, Frame of Reference) at any depth.
      const mapped = new Set(["00081155", "0020000d", "0020000e", "00200052", "30060024", "0040a124"]);
      let nested = 0;
      for (const [where, original] of before) {
        const tag = where.slice(-8);
        if (!mapped.has(tag)) continue;
        if (where.includes("/")) nested++;
        assert.equal(after.get(where), pseudonymizeUid(key, original), where);
      }
      assert.ok(nested > 0, "the file has nested references");
      // Class UIDs (what kind of object is referenced) stay.
      for (const [where, original] of before) {
        if (where.endsWith("00081150") || where.endsWith("00080016")) {
          assert.equal(after.get(where), original);
        }
      }
    },
  });
}

Deno.test("two series of one study de-identified in separate runs land in one study, one patient", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-refs-" });
  await Deno.writeTextFile(path.join(dir, "key"), KEY);
  const specs = [...generateStudies({
    seed: "two-runs",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 2 }, { modality: "MR", instances: 2 }],
    rows: 8,
    columns: 8,
  })];
  const runs = [...new Set(specs.map((s) => s.seriesInstanceUid))];
  assert.equal(runs.length, 2);
  const outputs: Map<string, string>[] = [];
  for (const [r, series] of runs.entries()) {
    const input = path.join(dir, `in-${r}`);
    await Deno.mkdir(input);
    for (const [i, s] of specs.filter((s) => s.seriesInstanceUid === series).entries()) {
      await Deno.writeFile(path.join(input, `${i}.dcm`), generateInstance(s));
    }
    for (const f of await deid(dir, input, path.join(dir, `out-${r}`))) {
      outputs.push(uids(await Deno.readFile(f)));
    }
  }
  assert.equal(outputs.length, 4);
  assert.equal(new Set(outputs.map((u) => value(u, "0020000d"))).size, 1, "one study");
  assert.equal(new Set(outputs.map((u) => value(u, "0020000e"))).size, 2, "two series");
  assert.notEqual(value(outputs[0], "0020000d"), specs[0].studyInstanceUid);
  const patients = await Promise.all(
    [0, 1].map(async (r) => {
      const [f] = [...Deno.readDirSync(path.join(dir, `out-${r}`))];
      const p = parsePart10(await Deno.readFile(path.join(dir, `out-${r}`, f.name)));
      const el = p.dataset.elements.find((e) => e.tag === 0x00100020)!;
      return new TextDecoder().decode(p.bytes.subarray(el.valueOffset, el.end)).trim();
    }),
  );
  assert.equal(patients[0], patients[1], "one patient");
  assert.notEqual(patients[0], specs[0].patientId);
});
