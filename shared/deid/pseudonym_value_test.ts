import assert from "node:assert/strict";
import { pseudonymProblem } from "./pseudonym_value.ts";

Deno.test("pseudonymProblem() takes one value of up to 64 characters and names what is wrong with others", () => {
  assert.equal(pseudonymProblem("TRIAL-0042"), undefined);
  assert.equal(pseudonymProblem("X".repeat(64)), undefined);
  assert.equal(pseudonymProblem(""), "is empty");
  assert.equal(pseudonymProblem("X".repeat(65)), "is longer than 64 characters");
  for (const bad of ["A\\B", "A\nB", "A\x7fB"]) {
    assert.match(pseudonymProblem(bad)!, /^has a backslash or a control/);
  }
});
