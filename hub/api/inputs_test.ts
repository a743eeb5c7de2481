import assert from "node:assert/strict";
import { deid } from "./inputs.ts";

Deno.test("deid input refuses a pseudonym that would not be one Patient ID: a backslash, a control character, not ASCII", () => {
  const ok = deid.safeParse({ profile: "basic", pseudonyms: { PAT0001: "TRIAL-0042" } });
  assert.equal(ok.success, true);
  for (const bad of ["A\\B", "TAB\tHERE", "M\u00fcller", "", "X".repeat(65)]) {
    const r = deid.safeParse({ profile: "basic", pseudonyms: { PAT0001: bad } });
    assert.equal(r.success, false, JSON.stringify(bad));
  }
});
