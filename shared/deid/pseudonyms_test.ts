import assert from "node:assert/strict";
import {
  dateShiftDays,
  pseudonymizeAccession,
  pseudonymizePatientId,
  pseudonymizePatientName,
  pseudonymizeUid,
  shiftDate,
  shiftDateTime,
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

Deno.test("dateShiftDays() is per patient, within range, never zero; shiftDate() handles dates, ranges and bad values", () => {
  const d = dateShiftDays(KEY, "PAT0001", 10, 20);
  assert.ok(d <= -10 && d >= -20);
  assert.equal(dateShiftDays(KEY, "PAT0001", 10, 20), d);
  const spread = new Set(Array.from({ length: 200 }, (_, i) => dateShiftDays(KEY, `P${i}`, 1, 365)));
  assert.ok(spread.size > 100, "patients get different shifts");
  assert.ok([...spread].every((x) => x <= -1 && x >= -365));
  assert.equal(shiftDate("20240301", -1), "20240229", "leap years");
  assert.equal(shiftDate("20240101-20240131", -31), "20231201-20231231");
  assert.equal(shiftDate("", -5), "");
  assert.equal(shiftDate("2024", -5), "2024", "not a full date: left as is");
  assert.equal(shiftDateTime("20240301120000.5+0100", -1), "20240229120000.5+0100");
  assert.throws(() => dateShiftDays(KEY, "x", 5, 1), RangeError);
});
