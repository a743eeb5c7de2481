import assert from "node:assert/strict";
import {
  dateShiftDays,
  pseudonymizeAccession,
  pseudonymizePatientId,
  pseudonymizePatientName,
  pseudonymizeUid,
  shiftedDate,
  shiftedDateTime,
} from "./pseudonyms.ts";

const KEY = new TextEncoder().encode("project key one");
const OTHER = new TextEncoder().encode("project key two");

Deno.test("pseudonymizeUid() is a stable 2.25 UID of at most 64 characters, unrelated across keys", () => {
  const uid = "1.2.840.113619.2.55.3.604688119.969.1268071029.320";
  const a = pseudonymizeUid(KEY, uid);
  assert.match(a, /^2\.25\.(0|[1-9][0-9]*)$/);
  assert.ok(a.length <= 64);
  assert.equal(pseudonymizeUid(KEY, uid), a, "same input and key, same output");
  assert.equal(pseudonymizeUid(KEY, uid + "\0"), a, "padding does not matter");
  assert.notEqual(pseudonymizeUid(OTHER, uid), a, "another key, another UID");
  assert.notEqual(pseudonymizeUid(KEY, uid + "1"), a);
  const many = new Set(Array.from({ length: 5000 }, (_, i) => pseudonymizeUid(KEY, `1.2.3.${i}`)));
  assert.equal(many.size, 5000, "no collisions in 5000");
});

Deno.test("patient, name and accession pseudonyms are stable, keyed, kept apart by purpose, and fit their VRs", () => {
  const id = pseudonymizePatientId(KEY, "PAT0001");
  assert.match(id, /^[A-Z2-7]{16}$/);
  assert.equal(pseudonymizePatientId(KEY, " PAT0001 "), id);
  assert.notEqual(pseudonymizePatientId(OTHER, "PAT0001"), id);
  const name = pseudonymizePatientName(KEY, "PAT0001", "STUDY7");
  assert.match(name, /^STUDY7\^[A-Z2-7]{10}$/);
  assert.notEqual(name.split("^")[1], id.slice(0, 10), "name and ID are derived apart");
  const acc = pseudonymizeAccession(KEY, "PAT0001");
  assert.ok(acc.length <= 16);
  assert.notEqual(acc, id, "the same text under another purpose maps elsewhere");
});

Deno.test("dateShiftDays() is per patient, within range, never zero", () => {
  const d = dateShiftDays(KEY, "PAT0001", 10, 20);
  assert.ok(d <= -10 && d >= -20);
  assert.equal(dateShiftDays(KEY, "PAT0001", 10, 20), d);
  const spread = new Set(Array.from({ length: 200 }, (_, i) => dateShiftDays(KEY, `P${i}`, 1, 365)));
  assert.ok(spread.size > 100, "patients get different shifts");
  assert.ok([...spread].every((x) => x <= -1 && x >= -365));
  assert.throws(() => dateShiftDays(KEY, "x", 5, 1), RangeError);
});

Deno.test("shiftedDate() moves every value in its own form, and has no answer for what is not a date", () => {
  assert.equal(shiftedDate("20240301", -1), "20240229", "leap years");
  assert.equal(shiftedDate("20240101\\20240131 ", -31), "20231201\\20231231", "each value, padding trimmed");
  assert.equal(shiftedDate("2024.03.01", -1), "2024.02.29", "ACR-NEMA's form kept");
  assert.equal(shiftedDate("2024-04-01", -240), "2023-08-05", "dashes (not PS3.5, but written) kept");
  assert.equal(shiftedDate("", -5), "");
  for (const bad of ["2024", "20240231", "2024-0401", "yesterday", "20240101-20240131", "20240101\\x"]) {
    assert.equal(shiftedDate(bad, -5), undefined, bad);
  }
  assert.equal(shiftedDate("00010101", -1), undefined, "before year 1");
});

Deno.test("shiftedDateTime() moves the date at the value's own precision and keeps time and offset", () => {
  assert.equal(shiftedDateTime("20240301120000.5+0100", -1), "20240229120000.5+0100");
  assert.equal(shiftedDateTime("202404", -240), "202308", "YYYYMM moved from its first day");
  assert.equal(shiftedDateTime("2024", -1), "2023", "YYYY moved from January 1st");
  assert.equal(shiftedDateTime("2024040112", -1), "2024033112");
  assert.equal(shiftedDateTime(" 20240401 ", -1), "20240331");
  assert.equal(shiftedDateTime("", -1), "");
  for (const bad of ["20240", "2024-04-01T12:00", "202404+0100x", "2024133112"]) {
    assert.equal(shiftedDateTime(bad, -1), undefined, bad);
  }
});
