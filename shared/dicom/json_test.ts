import assert from "node:assert/strict";
import { jsonString, jsonText, toDicomJson } from "./json.ts";

Deno.test("jsonText() and jsonString() give a person name with all its groups, as DICOM writes it", () => {
  const ds = toDicomJson({
    PatientName: [{ Alphabetic: "Yamada^Tarou", Ideographic: "山田^太郎", Phonetic: "やまだ^たろう" }],
    ReferringPhysicianName: [{ Ideographic: "洪^吉洞" }, { Alphabetic: "Doe^John" }],
    OperatorsName: [{ Alphabetic: "Wang^XiaoDong", Ideographic: "王^小東" }],
  });
  assert.equal(jsonText(ds, "PatientName"), "Yamada^Tarou=山田^太郎=やまだ^たろう");
  assert.equal(jsonString(ds, "PatientName"), "Yamada^Tarou=山田^太郎=やまだ^たろう");
  assert.equal(jsonText(ds, "ReferringPhysicianName"), "=洪^吉洞\\Doe^John");
  assert.equal(jsonText(ds, "OperatorsName"), "Wang^XiaoDong=王^小東");
});
