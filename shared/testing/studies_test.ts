import assert from "node:assert/strict";
import { generateInstance, generateStudies, isValidUid, uidFromKey } from "./mod.ts";
import { collect, OPTS } from "./_walker.ts";

Deno.test("generateStudies: same seed gives the same specs and bytes; another seed other UIDs", () => {
  const a = collect(generateStudies(OPTS));
  const b = collect(generateStudies(OPTS));
  assert.equal(a.length, 2 * 2 * (3 + 2));
  assert.deepEqual(a, b);
  assert.deepEqual(generateInstance(a[3]), generateInstance(b[3]));
  const c = collect(generateStudies({ ...OPTS, seed: "conduit-test-2" }));
  const uidsA = new Set(a.flatMap((s) => [s.studyInstanceUid, s.seriesInstanceUid, s.sopInstanceUid]));
  assert.ok(c.every((s) => !uidsA.has(s.studyInstanceUid) && !uidsA.has(s.sopInstanceUid)));
  assert.equal(uidFromKey("k"), uidFromKey("k"));
  assert.notEqual(uidFromKey("k"), uidFromKey("k2"));
});

Deno.test("generateStudies: hierarchy, IDs, names, dates and accession numbers", () => {
  const specs = collect(generateStudies(OPTS));
  assert.deepEqual([...new Set(specs.map((s) => s.patientId))], ["PAT0001", "PAT0002"]);
  assert.equal(new Set(specs.map((s) => s.studyInstanceUid)).size, 4);
  assert.equal(new Set(specs.map((s) => s.seriesInstanceUid)).size, 8);
  assert.equal(new Set(specs.map((s) => s.accessionNumber)).size, 4);
  for (const s of specs) {
    assert.match(s.patientName, /^[A-Z]+\^[A-Z]+(\^[A-Z])?$/);
    assert.match(s.patientBirthDate!, /^(19[3-9]\d|200[0-4])(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$/);
    assert.match(s.studyDate!, /^202[0-4]\d{4}$/);
    assert.match(s.studyTime!, /^([01]\d|2[0-3])[0-5]\d[0-5]\d$/);
    assert.ok(s.patientBirthDate! < s.studyDate!);
    assert.match(s.accessionNumber!, /^ACC\d{7}$/);
    assert.ok(["M", "F"].includes(s.patientSex!));
    assert.equal(s.rows, 64);
    assert.equal(s.columns, 48);
  }
  // one patient has one name, sex and birth date in all studies
  for (const id of ["PAT0001", "PAT0002"]) {
    const mine = specs.filter((s) => s.patientId === id);
    assert.equal(new Set(mine.map((s) => `${s.patientName}|${s.patientSex}|${s.patientBirthDate}`)).size, 1);
  }
  // instance numbers run 1..n within each series
  const series = specs.filter((s) => s.seriesInstanceUid === specs[0].seriesInstanceUid);
  assert.deepEqual(series.map((s) => s.instanceNumber), [1, 2, 3]);
});

Deno.test("generateStudies: every UID is unique, at most 64 characters and numeric", () => {
  const specs = collect(generateStudies({
    seed: "uids",
    patients: 40,
    studiesPerPatient: 3,
    series: [{ modality: "CT", instances: 20 }, { modality: "MR", instances: 10 }],
  }));
  assert.equal(specs.length, 40 * 3 * 30);
  const all = new Set<string>();
  let count = 0;
  const studies = new Set<string>();
  const series = new Set<string>();
  for (const s of specs) {
    for (const uid of [s.studyInstanceUid, s.seriesInstanceUid, s.frameOfReferenceUid!, s.sopInstanceUid]) {
      assert.ok(uid.length <= 64, uid);
      assert.match(uid, /^[0-9.]+$/);
      assert.match(uid, /^2\.25\.[1-9][0-9]*$/);
      assert.ok(isValidUid(uid));
      assert.ok(BigInt(uid.slice(5)) < 1n << 128n);
    }
    if (!studies.has(s.studyInstanceUid)) {
      studies.add(s.studyInstanceUid);
      all.add(s.studyInstanceUid);
      count++;
    }
    if (!series.has(s.seriesInstanceUid)) {
      series.add(s.seriesInstanceUid);
      all.add(s.seriesInstanceUid);
      all.add(s.frameOfReferenceUid!);
      count += 2;
    }
    all.add(s.sopInstanceUid);
    count++;
  }
  assert.equal(all.size, count, "no UID repeats across studies, series, frames of reference and instances");
  assert.equal(studies.size, 120);
  assert.equal(series.size, 240);
});
