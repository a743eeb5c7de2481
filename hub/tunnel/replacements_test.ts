import assert from "node:assert/strict";
import { REPLACEMENTS_WINDOW_MS, ReplacementWatch } from "./replacements.ts";

Deno.test("ReplacementWatch.replaced() warns at the third replacement in the window, then once a window", () => {
  const w = new ReplacementWatch();
  assert.equal(w.replaced("north", 0), undefined);
  assert.equal(w.replaced("north", 1000), undefined);
  assert.equal(w.replaced("south", 1500), undefined, "another site counts apart");
  assert.equal(w.replaced("north", 2000), 3);
  assert.equal(w.replaced("north", 3000), undefined, "warned already in this window");
  const w2 = REPLACEMENTS_WINDOW_MS;
  assert.equal(w.replaced("north", w2 + 100), undefined);
  assert.equal(w.replaced("north", w2 + 200), undefined);
  assert.equal(w.replaced("north", w2 + 2000), 4, "a window after the warning, still flapping: again");
  // Replacements far apart (an agent that reconnects now and then) never warn.
  const calm = new ReplacementWatch();
  for (let i = 0; i < 10; i++) assert.equal(calm.replaced("east", i * REPLACEMENTS_WINDOW_MS / 2), undefined);
});
