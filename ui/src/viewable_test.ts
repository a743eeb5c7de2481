import assert from "node:assert/strict";
import { NO_IMAGE, viewerHasNothing } from "./viewable.ts";

Deno.test("the viewer has nothing to draw for a study of RTSTRUCT or SEG alone; anything with images is viewable", () => {
  assert.match(
    viewerHasNothing(["RTSTRUCT"])!,
    /holds only RTSTRUCT, which point at images of another study/,
  );
  assert.match(viewerHasNothing(["SEG", "SEG", "KO"])!, /holds only SEG, KO,/);
  assert.equal(viewerHasNothing(["CT", "RTSTRUCT"]), undefined);
  assert.equal(viewerHasNothing(["SR"]), undefined, "a Basic Text SR shows its text");
  assert.equal(viewerHasNothing([]), undefined, "series not listed yet: not disabled");
  assert.ok(NO_IMAGE.has("SR") && NO_IMAGE.has("ECG") && !NO_IMAGE.has("CT") && !NO_IMAGE.has("SEG"));
});
