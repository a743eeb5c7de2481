import assert from "node:assert/strict";
import { ARCHIVE_MATCH_LEVEL } from "@conduit/shared/dicom";
import { ATTRIBUTE_BY_KEYWORD } from "./attributes.ts";

Deno.test("every key the hub takes the archive to match on has its index column here, at its level", () => {
  assert.deepEqual([...ATTRIBUTE_BY_KEYWORD.keys()].sort(), Object.keys(ARCHIVE_MATCH_LEVEL).sort());
  for (const [keyword, level] of Object.entries(ARCHIVE_MATCH_LEVEL)) {
    assert.equal(ATTRIBUTE_BY_KEYWORD.get(keyword)?.level, level, keyword);
  }
});
