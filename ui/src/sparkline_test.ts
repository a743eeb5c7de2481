import assert from "node:assert/strict";
import { sparkPoints } from "./sparkline.ts";

Deno.test("sparkPoints spans the chart, the largest value at the top", () => {
  assert.equal(sparkPoints([0, 50, 100], 96, 20), "0,19 48,10 96,1");
});

Deno.test("sparkPoints draws one value as a flat line across, not a lone point", () => {
  assert.equal(sparkPoints([21_000], 96, 20), "0,1 96,1");
  assert.equal(sparkPoints([0], 96, 20), "0,19 96,19");
});

Deno.test("sparkPoints of no value is no point", () => {
  assert.equal(sparkPoints([], 96, 20), "");
});
