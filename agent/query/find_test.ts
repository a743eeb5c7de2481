import assert from "node:assert/strict";
import { generateStudies, type InstanceSpec } from "@conduit/shared/testing";
import { indexedDatabase, indexEntryOf } from "../index/testing.ts";
import type { Identifier } from "../dimse/handlers.ts";
import { IndexQueryHandler } from "./find.ts";
import { lazyQueryHandler } from "./lazy.ts";
import { identifierText } from "./matching.ts";
import * as path from "node:path";
import { Database } from "../index/db.ts";
import { indexInstance } from "../index/instances.ts";
import { PYDICOM_TEST_FILES_DIR } from "../../tests/support/test_files.ts";

/** A real libsql file indexed with 2 patients x 2 studies x (CT 3 + MR 2) generated instances. */
async function indexed() {
  const specs = [...generateStudies({
    seed: "find-test",
    patients: 2,
    studiesPerPatient: 2,
    series: [{ modality: "CT", instances: 3 }, { modality: "MR", instances: 2 }],
    rows: 8,
    columns: 8,
  })];
  const db = await indexedDatabase(specs);
  const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 1000 });
  const find = async (model: "patient" | "study", id: Identifier) => {
    const out: Identifier[] = [];
    for await (const m of handler.find(model, id, new AbortController().signal)) out.push(m);
    return out;
  };
  return { db, specs, find };
}

Deno.test("IndexQueryHandler.find() answers every level with counts and requested empty keys", async () => {
  const { db, specs, find } = await indexed();
  try {
    const patients = await find("patient", {
      QueryRetrieveLevel: "PATIENT",
      PatientID: "",
      NumberOfPatientRelatedStudies: "",
    });
    assert.equal(patients.length, 2);
    assert.ok(patients.every((p) => p.NumberOfPatientRelatedStudies === 2));

    const studies = await find("study", {
      QueryRetrieveLevel: "STUDY",
      StudyInstanceUID: "",
      ModalitiesInStudy: "",
      NumberOfStudyRelatedSeries: "",
      NumberOfStudyRelatedInstances: "",
      OperatorsName: "",
    });
    assert.equal(studies.length, 4);
    for (const s of studies) {
      assert.deepEqual(s.ModalitiesInStudy, ["CT", "MR"]);
      assert.equal(s.NumberOfStudyRelatedSeries, 2);
      assert.equal(s.NumberOfStudyRelatedInstances, 5);
      assert.equal(s.OperatorsName, "", "an unsupported requested key comes back empty");
      assert.equal(s.RetrieveAETitle, "CONDUIT");
    }

    const study = specs[0].studyInstanceUid;
    const series = await find("study", {
      QueryRetrieveLevel: "SERIES",
      StudyInstanceUID: study,
      Modality: "",
      NumberOfSeriesRelatedInstances: "",
    });
    assert.deepEqual(series.map((s) => [s.Modality, s.NumberOfSeriesRelatedInstances]).sort(), [["CT", 3], [
      "MR",
      2,
    ]]);

    const images = await find("study", {
      QueryRetrieveLevel: "IMAGE",
      StudyInstanceUID: study,
      SOPInstanceUID: "",
      InstanceNumber: "",
    });
    assert.equal(images.length, 5);
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find() matches wildcards, names without case, ranges and UID lists", async () => {
  const { db, specs, find } = await indexed();
  try {
    const name = specs[0].patientName;
    const upper = await find("patient", {
      QueryRetrieveLevel: "PATIENT",
      PatientName: [{ Alphabetic: name.toLowerCase() }],
    });
    assert.equal(upper.length, 1);
    const prefix = name.slice(0, 3) + "*";
    assert.ok(
      (await find("patient", { QueryRetrieveLevel: "PATIENT", PatientName: [{ Alphabetic: prefix }] }))
        .length >= 1,
    );
    const q = "?" + specs[0].patientId.slice(1);
    assert.equal((await find("patient", { QueryRetrieveLevel: "PATIENT", PatientID: q })).length, 1);

    const dates = [...new Set(specs.map((s) => s.studyDate!))].sort();
    const first = await find("study", { QueryRetrieveLevel: "STUDY", StudyDate: `-${dates[0]}` });
    assert.equal(
      first.length,
      specs.filter((s) => s.studyDate === dates[0] && s.instanceNumber === 1 && s.modality === "CT").length,
    );
    const all = await find("study", {
      QueryRetrieveLevel: "STUDY",
      StudyDate: `${dates[0]}-${dates[dates.length - 1]}`,
    });
    assert.equal(all.length, 4);

    const two = [specs[0].studyInstanceUid, specs[specs.length - 1].studyInstanceUid];
    assert.equal(
      (await find("study", { QueryRetrieveLevel: "STUDY", StudyInstanceUID: two.join("\\") })).length,
      2,
    );
    assert.equal((await find("study", { QueryRetrieveLevel: "STUDY", ModalitiesInStudy: "MR" })).length, 4);
    assert.equal((await find("study", { QueryRetrieveLevel: "STUDY", ModalitiesInStudy: "US" })).length, 0);
    assert.equal((await find("study", { QueryRetrieveLevel: "STUDY", AccessionNumber: "NOPE*" })).length, 0);
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find() refuses a bad level with 0xA900", async () => {
  const { db, find } = await indexed();
  try {
    await assert.rejects(
      () => find("study", { QueryRetrieveLevel: "FRAME" }),
      (e: Error & { status?: number }) => e.status === 0xa900,
    );
    await assert.rejects(
      () => find("study", { QueryRetrieveLevel: "PATIENT" }),
      (e: Error & { status?: number }) => e.status === 0xa900,
    );
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find(): a key of separators only is universal, a number key no number refused", async () => {
  const { db, find } = await indexed();
  try {
    // `\` alone (what a QIDO `Modality=,` becomes) matched by an empty SQL list until 2026-12-07: a syntax error.
    for (const keys of [{ Modality: "\\" }, { SeriesInstanceUID: "\\\\" }, { SeriesNumber: "\\" }]) {
      const series = await find("study", { QueryRetrieveLevel: "SERIES", ...keys });
      assert.equal(series.length, 8, JSON.stringify(keys));
    }
    await assert.rejects(
      () => find("study", { QueryRetrieveLevel: "SERIES", SeriesNumber: "abc" }),
      (e: Error & { status?: number }) =>
        e.status === 0xa900 && /SeriesNumber: "abc" is not a number/.test(e.message),
    );
    const one = await find("study", { QueryRetrieveLevel: "SERIES", SeriesNumber: "1", Modality: "CT" });
    assert.ok(one.length >= 1);
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find() sends maxResults matches, then ends with 0xA700", async () => {
  const { db } = await indexed();
  try {
    const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 3 });
    const got: Identifier[] = [];
    await assert.rejects(async () => {
      for await (
        const m of handler.find("study", { QueryRetrieveLevel: "IMAGE" }, new AbortController().signal)
      ) {
        got.push(m);
      }
    }, (e: Error & { status?: number }) => e.status === 0xa700 && /more than 3/.test(e.message));
    assert.equal(got.length, 3);
  } finally {
    db.close();
  }
});

Deno.test("lazyQueryHandler() answers as IndexQueryHandler does, errors included", async () => {
  const { db, find } = await indexed();
  try {
    const lazy = lazyQueryHandler(db, { aet: "CONDUIT", maxResults: 1000 });
    const lazyFind = async (id: Identifier) => {
      const out: Identifier[] = [];
      for await (const m of lazy.find("study", id, new AbortController().signal)) out.push(m);
      return out;
    };
    const id = { QueryRetrieveLevel: "SERIES", StudyInstanceUID: "", SeriesInstanceUID: "", Modality: "MR" };
    const matches = await lazyFind(id);
    assert.equal(matches.length, 4);
    assert.deepEqual(matches, await find("study", id));
    await assert.rejects(
      () => lazyFind({ QueryRetrieveLevel: "FRAME" }),
      (e: Error & { status?: number }) => e.status === 0xa900,
    );
  } finally {
    db.close();
  }
});

/** A real libsql file with one study for each of `names` (patient i has names[i]), and a name query. */
async function indexedNames(names: string[]) {
  const specs = [...generateStudies({
    seed: "find-names",
    patients: names.length,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows: 8,
    columns: 8,
  })];
  const ids = [...new Set(specs.map((s) => s.patientId))];
  const db = await indexedDatabase(
    specs.map((s) => ({ ...s, patientName: names[ids.indexOf(s.patientId)] })),
  );
  const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 1000 });
  const find = async (patientName: string) => {
    const out: string[] = [];
    const id = { QueryRetrieveLevel: "PATIENT", PatientName: [{ Alphabetic: patientName }] };
    for await (const m of handler.find("patient", id, new AbortController().signal)) {
      out.push(identifierText(m.PatientName)); // all its groups, Alphabetic=Ideographic=Phonetic
    }
    return out;
  };
  return { db, find };
}

Deno.test("IndexQueryHandler.find() finds a name with a capital outside ASCII as it is stored", async () => {
  const { db, find } = await indexedNames(["ÖZDEMIR^ÜMIT", "Ärger^Max", "Smith^John"]);
  try {
    assert.deepEqual(await find("ÖZDEMIR^ÜMIT"), ["ÖZDEMIR^ÜMIT"]);
    assert.deepEqual(await find("Ärger^Max"), ["Ärger^Max"]);
    assert.deepEqual(await find("Ärger*"), ["Ärger^Max"]);
    assert.deepEqual(await find("ÄRGER^MAX"), ["Ärger^Max"]);
    assert.deepEqual(await find("*^ÜMIT"), ["ÖZDEMIR^ÜMIT"]);
    assert.deepEqual(await find("smith^john"), ["Smith^John"]);
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find() matches the alphabetic group of a name with other groups", async () => {
  const { db, find } = await indexedNames(["Doe^Jane=Dö^Jäne=do^jein", "Roe^Richard^^^=Ro^Rich", "Doe^John"]);
  try {
    assert.deepEqual(await find("Doe^Jane"), ["Doe^Jane=Dö^Jäne=do^jein"]);
    assert.deepEqual(await find("doe^jane=Dö^Jäne"), ["Doe^Jane=Dö^Jäne=do^jein"]);
    assert.deepEqual(await find("Roe^Richard"), ["Roe^Richard^^^=Ro^Rich"]);
    assert.deepEqual(await find("*^Jane"), ["Doe^Jane=Dö^Jäne=do^jein"]);
    assert.deepEqual((await find("Doe^*")).sort(), ["Doe^Jane=Dö^Jäne=do^jein", "Doe^John"]);
    assert.deepEqual(await find("*jein"), [], "only the alphabetic group is matched");
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find() returns a name's groups as separate members", async () => {
  const { db } = await indexedNames(["Doe^Jane=Dö^Jäne=do^jein", "Roe^Rick==ro^rick", "Poe^Edgar"]);
  try {
    const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 10 });
    const names: unknown[] = [];
    const id = { QueryRetrieveLevel: "PATIENT", PatientName: "" };
    for await (const m of handler.find("patient", id, new AbortController().signal)) {
      names.push(m.PatientName);
    }
    assert.deepEqual(names, [
      [{ Alphabetic: "Doe^Jane", Ideographic: "Dö^Jäne", Phonetic: "do^jein" }],
      [{ Alphabetic: "Roe^Rick", Phonetic: "ro^rick" }],
      [{ Alphabetic: "Poe^Edgar" }],
    ]);
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find() matches times as the intervals they name, at any precision", async () => {
  const times = ["072730", "0727", "072730.5", "1030", ""];
  const specs = [...generateStudies({
    seed: "find-times",
    patients: times.length,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows: 8,
    columns: 8,
  })].map((s, i) => ({ ...s, studyTime: times[i] }));
  const db = await indexedDatabase(specs);
  try {
    const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 100 });
    const find = async (StudyTime: string) => {
      const out: string[] = [];
      const id = { QueryRetrieveLevel: "STUDY", StudyTime };
      for await (const m of handler.find("study", id, new AbortController().signal)) {
        out.push(identifierText(m.StudyTime));
      }
      return out.sort();
    };
    // a fraction asked of a time stored to the second, or to the minute, still names that instant
    assert.deepEqual(await find("072730.000"), ["0727", "072730"]);
    assert.deepEqual(await find("07:27:30"), ["0727", "072730", "072730.5"]);
    assert.deepEqual(await find("10"), ["1030"]);
    // a range bound more precise than the stored time: 0727 is 07:27:00-07:27:59.999999
    assert.deepEqual(await find("072700-"), ["0727", "072730", "072730.5", "1030"]);
    assert.deepEqual(await find("072731-"), ["0727", "1030"]);
    assert.deepEqual(await find("-072659"), []);
    assert.deepEqual(await find("-072700"), ["0727"]);
    assert.deepEqual(await find("072730.6-0800"), ["0727", "072730"]);
    assert.deepEqual(await find("0727-0727"), ["0727", "072730", "072730.5"]);
    assert.deepEqual(await find("1030\\072730.5"), ["0727", "072730", "072730.5", "1030"]);
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find() returns a requested sequence key as a sequence of no items", async () => {
  const { db, find } = await indexed();
  try {
    // zero items asked (universal matching); we hold no value: zero items back, not one empty item
    for (const asked of [[], [{}], ""]) {
      const out = await find("study", { QueryRetrieveLevel: "STUDY", ReferencedStudySequence: asked });
      assert.equal(out.length, 4);
      for (const m of out) assert.deepEqual(m.ReferencedStudySequence, [], JSON.stringify(asked));
    }
  } finally {
    db.close();
  }
});

/** Why a test of `files` cannot run (one is missing: pydicom's test data), or "" when it can. */
function missing(files: string[]): string {
  const present = (f: string) => {
    try {
      return Deno.statSync(f).isFile;
    } catch {
      return false;
    }
  };
  return files.every(present) ? "" : "needs pydicom's test files (apt-get install python3-pydicom)";
}

/** `fn` with a real libsql file in a temporary folder that indexes `files` as they are (no archive). */
async function withIndexedFiles(files: string[], fn: (db: Database) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "find-files-" });
  const db = await Database.open(path.join(dir, "agent.db"));
  try {
    for (const file of files) {
      const { attrs, file: stored } = indexEntryOf(await Deno.readFile(file), file);
      indexInstance(db, attrs, stored);
    }
    await fn(db);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const PYDICOM_CHARSETS = "/usr/lib/python3/dist-packages/pydicom/data/charset_files";
const charsetFiles = ["chrH32.dcm", "chrI2.dcm"].map((n) => `${PYDICOM_CHARSETS}/${n}`);

Deno.test({
  name: "IndexQueryHandler.find() returns names stored with ISO 2022 code extensions decoded",
  ignore: !!missing(charsetFiles),
  fn: () =>
    withIndexedFiles(charsetFiles, async (db) => {
      const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 10 });
      const out: Identifier[] = [];
      const id = { QueryRetrieveLevel: "PATIENT", PatientName: "", PatientID: "" };
      for await (const m of handler.find("patient", id, new AbortController().signal)) out.push(m);
      // pydicom's decoding of the same files (PS3.5 Annex H and I examples)
      assert.deepEqual(out.map((m) => m.PatientName), [
        [{ Alphabetic: "ﾔﾏﾀﾞ^ﾀﾛｳ", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" }],
        [{ Alphabetic: "Hong^Gildong", Ideographic: "洪^吉洞", Phonetic: "홍^길동" }],
      ]);
      // answered in UTF-8, whatever the stored objects used
      for (const m of out) assert.equal(m.SpecificCharacterSet, "ISO_IR 192");
    }),
});

const imageFiles = ["CT_small.dcm", "rtdose.dcm", "reportsi.dcm"].map((n) =>
  path.join(PYDICOM_TEST_FILES_DIR, n)
);
Deno.test({
  name:
    "IndexQueryHandler.find() returns and matches Rows, Columns, BitsAllocated, NumberOfFrames at IMAGE level",
  ignore: !!missing(imageFiles),
  fn: () =>
    withIndexedFiles(imageFiles, async (db) => {
      const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 10 });
      const find = async (keys: Identifier) => {
        const out: Identifier[] = [];
        const id = {
          QueryRetrieveLevel: "IMAGE",
          SOPClassUID: "",
          Rows: "",
          Columns: "",
          BitsAllocated: "",
          ...keys,
        };
        for await (const m of handler.find("study", id, new AbortController().signal)) out.push(m);
        return out.map((m) => [m.SOPClassUID, m.Rows, m.Columns, m.BitsAllocated, m.NumberOfFrames]);
      };
      // Numbers (US, IS), empty when the object has none: the SR has no image, CT_small no NumberOfFrames.
      assert.deepEqual(
        (await find({ NumberOfFrames: "" })).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
        [
          ["1.2.840.10008.5.1.4.1.1.2", 128, 128, 16, ""],
          ["1.2.840.10008.5.1.4.1.1.481.2", 10, 10, 32, 15],
          ["1.2.840.10008.5.1.4.1.1.88.11", "", "", "", ""],
        ],
      );
      assert.deepEqual(await find({ NumberOfFrames: "15" }), [[
        "1.2.840.10008.5.1.4.1.1.481.2",
        10,
        10,
        32,
        15,
      ]]);
      assert.deepEqual((await find({ Rows: "128" })).map((m) => m[0]), ["1.2.840.10008.5.1.4.1.1.2"]);
    }),
});

const nameFiles = ["chrH31.dcm", "chrH32.dcm", "chrI2.dcm", "chrX1.dcm", "chrX2.dcm", "chrJapMulti.dcm"].map((
  n,
) => `${PYDICOM_CHARSETS}/${n}`);

Deno.test({
  name: "IndexQueryHandler.find() matches each component group a name key gives against the same group",
  ignore: !!missing(nameFiles),
  fn: () =>
    withIndexedFiles(nameFiles, async (db) => {
      const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 10 });
      const ids = async (PatientName: string) => {
        const out: string[] = [];
        const id = { QueryRetrieveLevel: "PATIENT", PatientName, PatientID: "" };
        for await (const m of handler.find("patient", id, new AbortController().signal)) {
          out.push(String(m.PatientID));
        }
        return out.sort();
      };
      // Stored: H31 Yamada^Tarou=山田^太郎=やまだ^たろう, H32 ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう,
      // I2 Hong^Gildong=洪^吉洞=홍^길동, X1 Wang^XiaoDong=王^小東, X2 Wang^XiaoDong=王^小东, 2008-4 やまだ^たろう.
      assert.deepEqual(await ids("=山田^太郎"), ["H31EXAMPLE", "H32EXAMPLE"], "ideographic only");
      assert.deepEqual(await ids("=山田"), [], "exact: not a prefix");
      assert.deepEqual(await ids("=山田*"), ["H31EXAMPLE", "H32EXAMPLE"]);
      assert.deepEqual(await ids("=王^小东"), ["X2EXAMPLE"], "simplified, not traditional");
      assert.deepEqual(await ids("==홍*"), ["I2EXAMPLE"], "phonetic only");
      assert.deepEqual(await ids("==やまだ^たろう"), ["H31EXAMPLE", "H32EXAMPLE"]);
      assert.deepEqual(await ids("yamada^tarou=山田^太郎"), ["H31EXAMPLE"], "every group given");
      assert.deepEqual(await ids("Wang*=王^小東"), ["X1EXAMPLE"]);
      assert.deepEqual(await ids("Yamada*=洪*"), [], "groups of two people");
      assert.deepEqual(
        await ids("Yamada*"),
        ["H31EXAMPLE"],
        "an ASCII key of one group: the alphabetic group",
      );
      // A key of one group beyond ASCII: any group (2008-4's alphabetic group is in hiragana).
      assert.deepEqual(await ids("やまだ^たろう"), ["2008-4", "H31EXAMPLE", "H32EXAMPLE"]);
      assert.deepEqual(await ids("山田*"), ["H31EXAMPLE", "H32EXAMPLE"]);
      assert.deepEqual(await ids("홍^길동"), ["I2EXAMPLE"]);
      assert.deepEqual(await ids("王*"), ["X1EXAMPLE", "X2EXAMPLE"]);
      assert.deepEqual(await ids("山田"), [], "exact in any group: not a prefix");
      assert.deepEqual(await ids("=*"), [
        "2008-4",
        "H31EXAMPLE",
        "H32EXAMPLE",
        "I2EXAMPLE",
        "X1EXAMPLE",
        "X2EXAMPLE",
      ]);
    }),
});

Deno.test("IndexQueryHandler.find(): two patients with one PatientID (an empty one) keep each study's own name, birth date and sex", async () => {
  const byStudy = Map.groupBy(
    generateStudies({
      seed: "find-shared-id",
      patients: 2,
      studiesPerPatient: 1,
      series: [{ modality: "CT", instances: 2 }],
      rows: 8,
      columns: 8,
    }),
    (s: InstanceSpec) => s.studyInstanceUid,
  );
  const [a, b] = [...byStudy.values()];
  const jane = a.map((s) => ({
    ...s,
    patientId: "",
    patientName: "Doe^Jane",
    patientBirthDate: "19700101",
    patientSex: "F" as const,
  }));
  // The second study's first object leaves the birth date empty; its second object fills it in.
  const john = b.map((s, i) => ({
    ...s,
    patientId: "",
    patientName: "Roe^John",
    patientBirthDate: i ? "19800202" : "",
    patientSex: "M" as const,
  }));
  const db = await indexedDatabase([...jane, ...john]);
  const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 100 });
  const find = async (model: "patient" | "study", id: Identifier) => {
    const out: Identifier[] = [];
    for await (const m of handler.find(model, id, new AbortController().signal)) out.push(m);
    return out;
  };
  const keys = { PatientName: "", PatientBirthDate: "", PatientSex: "", PatientID: "" };
  try {
    const studies = await find("study", { QueryRetrieveLevel: "STUDY", StudyInstanceUID: "", ...keys });
    const answered = new Map(studies.map((s) => [s.StudyInstanceUID, s]));
    const seen = (uid: string) => {
      const s = answered.get(uid)!;
      return [identifierText(s.PatientName), s.PatientBirthDate, s.PatientSex];
    };
    assert.deepEqual(seen(jane[0].studyInstanceUid), ["Doe^Jane", "19700101", "F"]);
    assert.deepEqual(seen(john[0].studyInstanceUid), ["Roe^John", "19800202", "M"]);
    const named = await find("study", {
      QueryRetrieveLevel: "STUDY",
      StudyInstanceUID: "",
      PatientName: "doe*",
    });
    assert.deepEqual(
      named.map((s) => s.StudyInstanceUID),
      [jane[0].studyInstanceUid],
      "a name finds its own study",
    );
    const images = await find("patient", {
      QueryRetrieveLevel: "IMAGE",
      PatientID: "",
      StudyInstanceUID: john[0].studyInstanceUid,
      SeriesInstanceUID: john[0].seriesInstanceUid,
      SOPInstanceUID: "",
      PatientName: "",
    });
    assert.ok(images.length === 2 && images.every((i) => identifierText(i.PatientName) === "Roe^John"));
    const patients = await find("patient", {
      QueryRetrieveLevel: "PATIENT",
      ...keys,
      NumberOfPatientRelatedStudies: "",
    });
    assert.equal(patients.length, 1, "the patient level still keys patients by PatientID and issuer");
    assert.equal(patients[0].NumberOfPatientRelatedStudies, 2);
  } finally {
    db.close();
  }
});

Deno.test("IndexQueryHandler.find(): a name of separators only (^^^^) is no name: a later object's fills the study and the patient", async () => {
  const specs = [...generateStudies({
    seed: "find-carets",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 2 }],
    rows: 8,
    columns: 8,
  })].map((s, i) => ({ ...s, patientName: i === 0 ? "^^^^" : "Doe^Jane^^" }));
  const db = await indexedDatabase(specs);
  const handler = new IndexQueryHandler(db, { aet: "CONDUIT", maxResults: 10 });
  const names = async (level: "PATIENT" | "STUDY") => {
    const out: string[] = [];
    const id = { QueryRetrieveLevel: level, PatientName: "", PatientID: "" };
    for await (const m of handler.find("patient", id, new AbortController().signal)) {
      out.push(identifierText(m.PatientName));
    }
    return out;
  };
  try {
    assert.deepEqual(await names("STUDY"), ["Doe^Jane^^"], "the study's name, as the object wrote it");
    assert.deepEqual(await names("PATIENT"), ["Doe^Jane^^"]);
  } finally {
    db.close();
  }
});
