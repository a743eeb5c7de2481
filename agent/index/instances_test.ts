/**
 * A group indexed at once (`indexInstances`, the group commit's) leaves the index as the same objects
 * indexed one by one (`indexInstance`) would: patients, studies, series and instances with their counts
 * and lists, whatever the groups' bounds; an object that fails leaves nothing of its own behind. Each
 * instance keeps the image size and frames its header gives (pydicom's files, in either byte order).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, generateStudies, type InstanceSpec } from "@conduit/shared/testing";
import { instanceAttributes } from "@conduit/shared/dicom";
import { parseHeaderBytes } from "../part10/header.ts";
import { PYDICOM_TEST_FILES_DIR } from "../../tests/support/test_files.ts";
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

Deno.test("indexInstances: a replacement's instance number, series and study attributes are the new object's", async () => {
  const db = await freshDb();
  try {
    const first = entryOf(specs[0]);
    const other = entryOf(specs[1]);
    indexInstances(db, [first, other]);
    const attrs = {
      ...first.attrs,
      seriesDescription: "CHANGED",
      studyDescription: "CORRECTED",
      instanceNumber: "9",
      modality: "SR",
    };
    indexInstance(db, attrs, { ...first.file, path: "replaced.dcm" });
    const row = async (sql: string) => (await db.query(sql, [specs[0].sopInstanceUid]))[0];
    assert.deepEqual(
      await row(`SELECT i.instance_number AS n, se.series_description AS series, st.study_description AS study
        FROM instances i JOIN series se USING (series_instance_uid) JOIN studies st
        ON st.study_instance_uid = i.study_instance_uid WHERE i.sop_instance_uid = ?`),
      { n: "9", series: "CHANGED", study: "CORRECTED" },
    );
    // Its series' modality is the new object's, and the study's list follows (it was CT).
    assert.equal(
      (await db.query("SELECT modalities_in_study AS m FROM studies WHERE study_instance_uid = ?", [
        specs[0].studyInstanceUid,
      ]))[0].m,
      "SR",
    );
    // The counts are those of the objects, not of their arrivals.
    assert.equal(
      (await db.query("SELECT num_instances AS n FROM studies WHERE study_instance_uid = ?", [
        specs[0].studyInstanceUid,
      ]))[0].n,
      2,
    );
  } finally {
    db.close();
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

/** A pydicom test file as ingest indexes it: attributes read without the File Meta's UIDs. */
async function fileEntry(name: string): Promise<IndexEntry> {
  const bytes = await Deno.readFile(path.join(PYDICOM_TEST_FILES_DIR, name));
  const h = parseHeaderBytes(bytes, bytes.length, true);
  return {
    attrs: instanceAttributes(h.bytes, h.dataset, undefined, h.header.transferSyntax),
    file: {
      path: `archive/${name}`,
      fileSize: bytes.length,
      datasetOffset: h.header.datasetOffset,
      datasetSize: bytes.length - h.header.datasetOffset,
      sha256: "",
      transferSyntaxUid: h.header.transferSyntax,
      callingAet: "TEST",
    },
  };
}

const pydicomSkip = (() => {
  try {
    Deno.statSync(path.join(PYDICOM_TEST_FILES_DIR, "rtdose_expb.dcm"));
    return "";
  } catch {
    return "needs pydicom's test files (apt-get install python3-pydicom)";
  }
})();

Deno.test({
  name: "indexInstances: Rows, Columns, BitsAllocated and NumberOfFrames as the header has them, else null",
  ignore: !!pydicomSkip,
  async fn() {
    const db = await freshDb();
    try {
      // CT_small: 128 x 128, 16 bits, no NumberOfFrames; rtdose: implicit VR, 15 frames of 10 x 10 at 32
      // bits; reportsi: an SR, no image at all.
      const errors = indexInstances(
        db,
        await Promise.all(["CT_small.dcm", "rtdose.dcm", "reportsi.dcm"].map(fileEntry)),
      );
      assert.ok(errors.every((e) => e === undefined));
      const size = async () =>
        Object.fromEntries(
          (await db.query<Record<string, unknown>>(
            `SELECT path, rows, columns, bits_allocated, number_of_frames FROM instances ORDER BY path`,
          )).map(({ path, ...rest }) => [path, rest]),
        );
      assert.deepEqual(await size(), {
        "archive/CT_small.dcm": { rows: 128, columns: 128, bits_allocated: 16, number_of_frames: null },
        "archive/reportsi.dcm": { rows: null, columns: null, bits_allocated: null, number_of_frames: null },
        "archive/rtdose.dcm": { rows: 10, columns: 10, bits_allocated: 32, number_of_frames: 15 },
      });
      // A row indexed before the columns existed gets them when its object is stored again (keepLast),
      // here the same dose in explicit VR big endian.
      db.write(() =>
        db.statement(`UPDATE instances SET rows = NULL, columns = NULL, bits_allocated = NULL,
          number_of_frames = NULL WHERE path = 'archive/rtdose.dcm'`).run()
      );
      const bigEndian = await fileEntry("rtdose_expb.dcm");
      indexInstance(db, bigEndian.attrs, bigEndian.file);
      assert.deepEqual((await size())["archive/rtdose_expb.dcm"], {
        rows: 10,
        columns: 10,
        bits_allocated: 32,
        number_of_frames: 15,
      });
    } finally {
      db.close();
    }
  },
});
