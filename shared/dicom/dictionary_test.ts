import assert from "node:assert/strict";
import * as fs from "node:fs";
import { DATA_FILE, dictionaryText } from "../../tests/tools/generate_dictionary.ts";
import { attributeByTag, resolveTag, tagByKeyword, vrOf } from "./dictionary.ts";

Deno.test("dictionary_data.json is exactly what the generator makes from dcmjs's dictionary", () => {
  assert.equal(fs.readFileSync(DATA_FILE, "utf8"), dictionaryText(), "run deno task dict:generate");
});

Deno.test("attributeByTag(), vrOf() and tagByKeyword() read the data, repeating groups included", () => {
  assert.deepEqual(attributeByTag(0x00100010), { tag: 0x00100010, vr: "PN", keyword: "PatientName" });
  assert.equal(vrOf(0x60003000), "UN", "Overlay Data is OB or OW: implicit readers take it as UN");
  assert.equal(attributeByTag(0x60063000)?.keyword, "OverlayData", "any overlay group");
  assert.equal(attributeByTag(0x501e0005)?.keyword, "RETIRED_CurveDimensions", "any curve group");
  assert.equal(attributeByTag(0x00090010), undefined, "private tags are not in the dictionary");
  assert.equal(attributeByTag(0x00080000)?.vr, "UL", "group lengths");
  assert.equal(tagByKeyword("StudyInstanceUID"), 0x0020000d);
  assert.equal(tagByKeyword("OverlayData"), 0x60003000);
  assert.equal(resolveTag("(0008,0050)"), 0x00080050);
  assert.equal(resolveTag("NoSuchKeyword"), undefined);
});

Deno.test("attributeByTag() answers every attribute of the data, and tagByKeyword() its tag", () => {
  // The tables are lines parsed at the first lookup: each one must come back whole (VR and keyword).
  const data = JSON.parse(fs.readFileSync(DATA_FILE, "utf8")) as { exact: string; repeating: string };
  let checked = 0;
  for (const [table, groups] of [[data.exact, [0]], [data.repeating, [0, 2, 0x1e]]] as const) {
    for (const line of table.split("\n")) {
      const [hex, vr, keyword] = line.split("\t");
      const tag = Number.parseInt(hex, 16) >>> 0;
      // Group lengths are UL without a keyword, odd groups are private: the dictionary's entries there are not answered.
      if ((tag & 0xffff) === 0 || (tag >>> 16) % 2 === 1) continue;
      for (const add of groups) {
        const t = (tag + (add << 16)) >>> 0;
        assert.deepEqual(attributeByTag(t), { tag: t, vr, keyword }, hex);
      }
      assert.ok(tagByKeyword(keyword) !== undefined, keyword);
      checked++;
    }
  }
  assert.ok(checked > 5000, `${checked} attributes`);
});
