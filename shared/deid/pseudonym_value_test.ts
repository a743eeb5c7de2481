import assert from "node:assert/strict";
import { pseudonymProblem, PseudonymTable } from "./pseudonym_value.ts";

Deno.test("pseudonymProblem() takes one value of up to 64 characters and names what is wrong with others", () => {
  assert.equal(pseudonymProblem("TRIAL-0042"), undefined);
  assert.equal(pseudonymProblem("X".repeat(64)), undefined);
  assert.equal(pseudonymProblem(""), "is empty");
  assert.equal(pseudonymProblem("X".repeat(65)), "is longer than 64 characters");
  // A backslash (two values), control characters, and text outside ASCII (written in the wrong character set).
  for (const bad of ["A\\B", "A\nB", "A\x7fB", "M\u00fcller-1"]) {
    assert.match(pseudonymProblem(bad)!, /^is not printable ASCII without a backslash/);
  }
});

Deno.test("PseudonymTable: one patient, one pseudonym, and one pseudonym, one patient; repeats are no clash", () => {
  const table = new PseudonymTable<number>();
  assert.equal(table.add("PAT1", "TRIAL-1", 1), undefined);
  assert.equal(table.add("PAT1", "TRIAL-1", 2), undefined, "the same entry again");
  assert.deepEqual(table.add("PAT1", "TRIAL-2", 3), { kind: "patient", pseudonym: "TRIAL-1", where: 1 });
  assert.deepEqual(table.add("PAT2", "TRIAL-1", 4), { kind: "pseudonym", pseudonym: "TRIAL-1", where: 1 });
  assert.equal(table.add("PAT2", "TRIAL-2", 5), undefined, "a clash adds nothing: TRIAL-2 is still free");
  assert.equal(table.size, 2);
  assert.deepEqual([...table.toMap()], [["PAT1", "TRIAL-1"], ["PAT2", "TRIAL-2"]]);
});
