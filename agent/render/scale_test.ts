import assert from "node:assert/strict";
import { fitSize, MAX_SIDE, resample } from "./scale.ts";

Deno.test("fitSize() keeps the aspect, follows a missing side, and caps both sides", () => {
  assert.deepEqual(fitSize(512, 256, 128, 128), [128, 64]);
  assert.deepEqual(fitSize(512, 256, undefined, 64), [128, 64]);
  assert.deepEqual(fitSize(64, 64, 200), [200, 200]);
  assert.deepEqual(fitSize(300, 100), [300, 100]);
  assert.deepEqual(fitSize(100, 50, 100_000, 100_000), [MAX_SIDE, MAX_SIDE / 2]);
});

Deno.test("resample() averages the boxes it shrinks and keeps a flat image flat when enlarging", () => {
  const s = { width: 4, height: 2, channels: 1 as const, data: Float32Array.from([0, 2, 4, 6, 0, 2, 4, 6]) };
  assert.deepEqual(Array.from(resample(s, 2, 1).data), [1, 5]);
  const flat = { width: 3, height: 3, channels: 3 as const, data: new Float32Array(27).fill(7) };
  const big = resample(flat, 7, 5);
  assert.equal(big.data.length, 7 * 5 * 3);
  assert.ok(big.data.every((v) => Math.abs(v - 7) < 1e-5));
  const region = resample(s, 2, 1, { x: 2, y: 0, width: 2, height: 2 });
  assert.deepEqual(Array.from(region.data), [4, 6]);
});
