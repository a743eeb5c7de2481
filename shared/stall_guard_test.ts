import assert from "node:assert/strict";
import { StallGuard } from "./stall_guard.ts";

Deno.test("StallGuard: checks on time judge; a late check and those within a period after it do not", () => {
  const guard = new StallGuard(250, 0);
  assert.equal(guard.mayJudge(250), true);
  assert.equal(guard.mayJudge(500), true);
  // The loop held 4 s: the check comes late, and the catch-up check 3 ms after it too.
  assert.equal(guard.mayJudge(4500), false);
  assert.equal(guard.mayJudge(4503), false);
  assert.equal(guard.mayJudge(4749), false);
  assert.equal(guard.mayJudge(4750), true);
  assert.equal(guard.mayJudge(5000), true);
  // Exactly two periods late is still on time (a timer a little slow is not a stall).
  assert.equal(guard.mayJudge(5500), true);
});
