import assert from "node:assert/strict";
import { pseudonymProblem } from "./pseudonym_value.ts";

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
