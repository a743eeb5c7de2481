import assert from "node:assert/strict";
import { keyValueTooLong } from "./value_lengths.ts";

Deno.test("keyValueTooLong() refuses a PN component group over 64 characters, wildcards counted", () => {
  const reason = keyValueTooLong("PatientName", "PN", `a*${"x".repeat(50_000)}*`);
  assert.equal(reason, "PatientName: longer than the 64 characters a PN component group allows");
  assert.ok(reason!.length <= 80);
  assert.equal(
    keyValueTooLong("PatientName", "PN", `Yamada^Tarou=${"山".repeat(65)}`)?.startsWith("PatientName"),
    true,
  );
  // 64 characters in each of three groups: 194 in all, and allowed
  assert.equal(
    keyValueTooLong("PatientName", "PN", ["a".repeat(64), "b".repeat(64), "c".repeat(64)].join("=")),
    undefined,
  );
  assert.equal(keyValueTooLong("PatientName", "PN", "Doe*^J?hn"), undefined);
});

Deno.test("keyValueTooLong() counts characters for LO and SH, bytes for UI and CS, per value of a list", () => {
  assert.equal(keyValueTooLong("PatientID", "LO", "é".repeat(64)), undefined);
  assert.match(keyValueTooLong("PatientID", "LO", "é".repeat(65))!, /64 characters LO/);
  assert.match(keyValueTooLong("AccessionNumber", "SH", "A".repeat(17))!, /16 characters SH/);
  const uid = "1.2.3." + "4".repeat(58);
  assert.equal(keyValueTooLong("StudyInstanceUID", "UI", [uid, uid, uid].join("\\")), undefined);
  assert.match(keyValueTooLong("StudyInstanceUID", "UI", `${uid}\\${uid}5`)!, /64 bytes UI/);
  assert.match(keyValueTooLong("Modality", "CS", "CT\\" + "M".repeat(17))!, /16 bytes CS/);
});

Deno.test("keyValueTooLong() allows the longer range of DA, TM and DT that PS3.5 gives queries", () => {
  assert.equal(keyValueTooLong("StudyDate", "DA", "20200101-20201231"), undefined);
  assert.match(keyValueTooLong("StudyDate", "DA", "202001011")!, /8 bytes DA/);
  assert.match(keyValueTooLong("StudyDate", "DA", "20200101-202012311234")!, /18 bytes a DA range/);
  assert.equal(keyValueTooLong("StudyTime", "TM", "070000.000000-235959.999999"), undefined);
});

Deno.test("keyValueTooLong() leaves VRs without a limit, and empty values, alone", () => {
  assert.equal(keyValueTooLong("TextValue", "UT", "x".repeat(100_000)), undefined);
  assert.equal(keyValueTooLong("PixelData", "OB", "x".repeat(100)), undefined);
  assert.equal(keyValueTooLong("PatientName", "PN", ""), undefined);
  assert.match(keyValueTooLong("StudyComments", "LT", "\\".repeat(10_241))!, /10240 characters LT/);
});
