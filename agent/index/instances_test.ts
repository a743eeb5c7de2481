/**
 * A group indexed at once (`indexInstances`, the group commit's) leaves the index as the same objects
 * indexed one by one (`indexInstance`) would: patients, studies, series and instances with their counts
 * and lists, whatever the groups' bounds; an object that fails leaves nothing of its own behind.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, generateStudies, type InstanceSpec } from "@conduit/shared/testing";
import { instanceAttributes } from "@conduit/shared/dicom";
import { parseHeaderBytes } from "../part10/header.ts";
import { Database } from "./db.ts";
import { type IndexEntry, indexInstance, indexInstances } from "./instances.ts";

function entryOf(spec: InstanceSpec, at = "archive"): IndexEntry {
  const bytes = generateInstance({ ...spec, rows: 4, columns: 4 });
  const h = parseHeaderBytes(bytes, bytes.length, true);
  return {
    attrs: instanceAttributes(h.bytes, h.dataset, h.header),
    file: {
      path: `${at}/${spec.sopInstanceUid}.dcm`,
      fileSize: bytes.length,
      datasetOffset: h.header.datasetOffset,
      datasetSize: bytes.length - h.header.datasetOffset,
      sha256: "",
      transferSyntaxUid: h.header.transferSyntax,
      callingAet: "TEST",
    },
  };
}

async function freshDb(): Promise<Database> {
  return await Database.open(path.join(await Deno.makeTempDir({ prefix: "instances-test-" }), "agent.db"));
}

/** Every row of the four tables, without the times a run sets. */
async function contents(db: Database): Promise<unknown> {
  const q = (sql: string) => db.query(sql);
  return {
    patients: await q(
      `SELECT patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex, num_studies,
      num_series, num_instances FROM patients ORDER BY patient_id`,
    ),
    studies: await q(
      `SELECT s.study_instance_uid, p.patient_id, s.modalities_in_study, s.sop_classes_in_study, s.num_series,
      s.num_instances FROM studies s JOIN patients p ON p.pk = s.patient_pk ORDER BY s.study_instance_uid`,
    ),
    series: await q(
      `SELECT series_instance_uid, study_instance_uid, modality, num_instances FROM series
      ORDER BY series_instance_uid`,
    ),
    instances: await q(
      `SELECT sop_instance_uid, series_instance_uid, sop_class_uid, path, file_size, removed_at FROM instances
      ORDER BY sop_instance_uid`,
    ),
  };
}

const specs = [...generateStudies({
  seed: "index-groups",
  patients: 2,
  studiesPerPatient: 2,
  series: [{ modality: "CT", instances: 3 }, { modality: "MR", instances: 2 }],
})];

Deno.test("indexInstances: groups of any bounds index as one by one, a replacement included", async () => {
  const entries = specs.map((s) => entryOf(s));
  const again = entryOf(specs[4], "replaced"); // the same instance, stored again elsewhere (keepLast)
  const one = await freshDb();
  try {
    for (const e of [...entries, again]) indexInstance(one, e.attrs, e.file);
    const expected = await contents(one);
    const { patients, studies, series, instances } = expected as Record<string, Record<string, unknown>[]>;
    assert.equal(instances.length, specs.length);
    assert.equal(
      instances.find((i) => i.sop_instance_uid === specs[4].sopInstanceUid)?.path,
      again.file.path,
    );
    assert.deepEqual(patients.map((p) => [p.num_studies, p.num_series, p.num_instances]), [[2, 4, 10], [
      2,
      4,
      10,
    ]]);
    for (const s of studies) {
      assert.deepEqual([s.num_series, s.num_instances, s.modalities_in_study], [2, 5, "CT\\MR"]);
      assert.equal(String(s.sop_classes_in_study).split("\\").length, 2);
    }
    assert.deepEqual(series.map((s) => s.num_instances).sort(), [2, 2, 2, 2, 3, 3, 3, 3]);
    for (const size of [1, 3, 7, entries.length + 1]) {
      const grouped = await freshDb();
      try {
        const all = [...entries, again];
        for (let at = 0; at < all.length; at += size) {
          const errors = indexInstances(grouped, all.slice(at, at + size));
          assert.ok(errors.every((e) => e === undefined));
        }
        assert.deepEqual(await contents(grouped), expected, `groups of ${size}`);
      } finally {
        grouped.close();
      }
    }
  } finally {
    one.close();
  }
});

Deno.test("indexInstances: an object that fails alone leaves nothing behind, its group commits", async () => {
  // The second study's objects: every one of them fails in one group, and one of the first study's too.
  const firstStudy = specs.filter((s) => s.studyInstanceUid === specs[0].studyInstanceUid);
  const secondStudy = specs.filter((s) => s.studyInstanceUid === specs[5].studyInstanceUid);
  assert.ok(secondStudy.length > 0 && specs[5].studyInstanceUid !== specs[0].studyInstanceUid);
  const failing = new Set([firstStudy[1].sopInstanceUid, ...secondStudy.map((s) => s.sopInstanceUid)]);
  const group = [...firstStudy, ...secondStudy].map((s) => ({
    ...entryOf(s),
    alsoInTransaction: failing.has(s.sopInstanceUid)
      ? () => {
        throw new Error("queue row refused");
      }
      : undefined,
  }));
  const grouped = await freshDb();
  const one = await freshDb();
  try {
    const errors = indexInstances(grouped, group);
    assert.deepEqual(
      errors.map((e) => (e as Error | undefined)?.message),
      group.map((g) => failing.has(g.attrs.sopInstanceUid) ? "queue row refused" : undefined),
    );
    for (const e of group) if (!failing.has(e.attrs.sopInstanceUid)) indexInstance(one, e.attrs, e.file);
    const expected = await contents(one) as { studies: unknown[] };
    assert.equal(expected.studies.length, 1, "the second study left no row");
    // Patients are upserted for the group as a whole: the second study's patient row stays, without counts.
    const got = await contents(grouped) as Record<string, unknown>;
    const want = expected as Record<string, unknown>;
    assert.deepEqual(got.studies, want.studies);
    assert.deepEqual(got.series, want.series);
    assert.deepEqual(got.instances, want.instances);
  } finally {
    grouped.close();
    one.close();
  }
});
