import assert from "node:assert/strict";
import { DEFAULT_KEYS, parseQido, QidoParameterError } from "./parse.ts";

const parse = (q: string, level: "STUDY" | "SERIES" | "IMAGE" = "STUDY", fixed = {}) =>
  parseQido(new URLSearchParams(q), level, fixed);

Deno.test("parseQido() asks each level's default attributes back, and matches what the query names", () => {
  const p = parse("PatientID=P*&StudyDate=20240101-");
  for (const k of DEFAULT_KEYS.STUDY) assert.ok(k in p.query.keys, k);
  assert.equal(p.query.keys.PatientID, "P*");
  assert.equal(p.query.keys.StudyDate, "20240101-");
  assert.equal(p.query.keys.Modality, undefined);
  assert.equal(p.query.level, "STUDY");
  assert.deepEqual([p.limit, p.offset, p.fuzzymatching], [undefined, 0, false]);
});

Deno.test("parseQido() reads tags as keywords, includefield (all too), and UID lists as C-FIND writes them", () => {
  const p = parse("00100020=X&includefield=00081030,BodyPartExamined&SOPInstanceUID=1.2,%201.3", "IMAGE");
  assert.equal(p.query.keys.PatientID, "X");
  assert.equal(p.query.keys.StudyDescription, "");
  assert.equal(p.query.keys.BodyPartExamined, "");
  assert.equal(p.query.keys.SOPInstanceUID, "1.2\\1.3");
  assert.equal(parse("ModalitiesInStudy=CT,MR").query.keys.ModalitiesInStudy, "CT\\MR", "a code string list");
  assert.equal(parse("Modality=CT").query.keys.Modality, "CT");
  assert.equal(
    parse("StudyDescription=Head, neck").query.keys.StudyDescription,
    "Head, neck",
    "text keeps its commas",
  );
  const all = parse("includefield=all", "SERIES");
  for (const k of [...DEFAULT_KEYS.STUDY, ...DEFAULT_KEYS.SERIES]) assert.ok(k in all.query.keys, k);
});

Deno.test("parseQido() asks the site for offset + limit, caps the limit, and keeps the path's UIDs", () => {
  const p = parse("limit=10&offset=5&StudyInstanceUID=9.9", "IMAGE", {
    StudyInstanceUID: "1.2",
    SeriesInstanceUID: "1.2.3",
  });
  assert.deepEqual([p.limit, p.offset, p.query.limit], [10, 5, 15]);
  assert.equal(p.query.keys.StudyInstanceUID, "1.2");
  assert.equal(p.query.keys.SeriesInstanceUID, "1.2.3");
  assert.equal(parse("limit=999999").limit, 10_000);
  assert.equal(parse("fuzzymatching=true").fuzzymatching, true);
});

Deno.test("parseQido() refuses what it cannot answer, naming the parameter", () => {
  for (
    const [q, why] of [
      ["limit=0", /limit must be an integer of at least 1/],
      ["offset=-1", /offset must be an integer of at least 0/],
      ["limit=ten", /limit must be an integer/],
      ["fuzzymatching=yes", /fuzzymatching must be true or false/],
      ["NoSuchKeyword=1", /NoSuchKeyword is not a DICOM keyword or tag/],
      ["includefield=Nope", /Nope is not a DICOM keyword/],
      ["ReferencedSeriesSequence.SeriesInstanceUID=1", /inside sequences is not supported/],
      ["StudyDate=2024-01-01", /StudyDate: /],
      ["SeriesNumber=abc", /SeriesNumber: "abc" is not an integer/],
      ["InstanceNumber=1*", /InstanceNumber: "1\*" is not an integer .*no wildcards/],
      ["Rows=1-3", /Rows: "1-3" is not an integer/],
      // longer than the VR allows (PS3.5 Table 6.2-1): a pattern SQLite's GLOB would not take
      [
        `PatientName=a*${"x".repeat(50_000)}*`,
        /^PatientName: longer than the 64 characters a PN component group/,
      ],
      [`00100020=${"9".repeat(65)}`, /^00100020: longer than the 64 characters LO allows/],
      [`StudyInstanceUID=1.2.3,1.${"2".repeat(63)}`, /StudyInstanceUID: longer than the 64 bytes UI allows/],
      [`AccessionNumber=${"A".repeat(17)}*`, /AccessionNumber: longer than the 16 characters SH allows/],
    ] as const
  ) {
    assert.throws(
      () => parse(q),
      (err: Error) => err instanceof QidoParameterError && why.test(err.message),
      q,
    );
  }
});

Deno.test("parseQido() with a matching key given twice: UIDs and codes any of them, other values must agree", () => {
  // Until 2026-12-04 the last one won silently: `Modality=CT&Modality=MR` searched MR only.
  assert.equal(parse("ModalitiesInStudy=CT&ModalitiesInStudy=MR").query.keys.ModalitiesInStudy, "CT\\MR");
  assert.equal(parse("StudyInstanceUID=1.2&0020000D=1.3,1.2").query.keys.StudyInstanceUID, "1.2\\1.3");
  assert.equal(parse("PatientID=X&00100020=X").query.keys.PatientID, "X", "the same value twice");
  assert.equal(parse("PatientID=X&PatientID=").query.keys.PatientID, "X", "an empty one only asks it back");
  assert.equal(parse("PatientID=&PatientID=X").query.keys.PatientID, "X");
  assert.throws(
    () => parse("PatientID=X&00100020=Y"),
    (e: unknown) =>
      e instanceof QidoParameterError && /PatientID is given twice with different values/.test(e.message),
  );
});

Deno.test("parseQido() ignores a tag the dictionary does not name (a private one) and lists it", () => {
  const p = parse("00091001=GE*&includefield=00091010,00081030&PatientID=1CT1");
  assert.deepEqual(p.unknownTags, ["00091001", "00091010"]);
  assert.equal(p.query.keys.PatientID, "1CT1");
  assert.equal(p.query.keys.StudyDescription, "");
  assert.ok(!Object.keys(p.query.keys).some((k) => k.startsWith("0009")));
  assert.deepEqual(parse("PatientID=1").unknownTags, []);
});

Deno.test("parseQido() takes a number, universal matching and an empty value for numeric VRs", () => {
  assert.equal(parse("SeriesNumber=3", "SERIES").query.keys.SeriesNumber, "3");
  assert.equal(parse("InstanceNumber=-2", "IMAGE").query.keys.InstanceNumber, "-2");
  assert.equal(parse("InstanceNumber=*", "IMAGE").query.keys.InstanceNumber, "*");
  assert.equal(
    parse("includefield=SliceThickness&SliceThickness=1.25e0", "IMAGE").query.keys.SliceThickness,
    "1.25e0",
  );
  assert.equal(parse("NumberOfFrames=", "IMAGE").query.keys.NumberOfFrames, "");
});

Deno.test("parseQido() takes a UID list by commas or by C-FIND's backslash, and refuses one with a non-UID", () => {
  assert.equal(parse("StudyInstanceUID=1.2,1.3").query.keys.StudyInstanceUID, "1.2\\1.3");
  // The console's lookups send the typed client's filters this way.
  assert.equal(parse("StudyInstanceUID=1.2%5C1.3").query.keys.StudyInstanceUID, "1.2\\1.3");
  for (const q of ["StudyInstanceUID=1.2,abc", "StudyInstanceUID=1.2%5Cx", "SeriesInstanceUID=1.2?"]) {
    assert.throws(() => parse(q, "SERIES"), QidoParameterError, q);
  }
  assert.throws(() => parse("offset=1000000001"), /offset must be at most 1000000000/);
  assert.throws(() => parse("offset=1&offset=2"), /offset is given twice/);
  assert.equal(parse("offset=1&offset=1").offset, 1);
});

Deno.test("parseQido(): a search not scoped to a study asks its study attributes back, not to a series its series'", () => {
  const study = { StudyInstanceUID: "1.2.3" };
  // All Series, and a study's series.
  assert.equal(parse("", "SERIES").query.keys.PatientName, "");
  assert.equal(parse("", "SERIES", study).query.keys.PatientName, undefined);
  // All Instances; a study's instances; a series' instances.
  const all = parse("", "IMAGE").query.keys;
  assert.ok("PatientName" in all && "Modality" in all && "SOPInstanceUID" in all);
  const ofStudy = parse("", "IMAGE", study).query.keys;
  assert.ok(!("PatientName" in ofStudy) && "Modality" in ofStudy);
  const ofSeries = parse("", "IMAGE", { ...study, SeriesInstanceUID: "1.2.3.4" }).query.keys;
  assert.ok(!("PatientName" in ofSeries) && !("Modality" in ofSeries) && "SOPInstanceUID" in ofSeries);
});
