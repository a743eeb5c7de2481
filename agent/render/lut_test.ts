import assert from "node:assert/strict";
import type { ImageAttributes } from "./attributes.ts";
import { applyModality, chooseVoi, grayTo8, windowFunction } from "./lut.ts";
import type { Samples } from "./pixels.ts";

const attrs = (over: Partial<ImageAttributes> = {}): ImageAttributes => ({
  rows: 1,
  columns: 4,
  samplesPerPixel: 1,
  photometric: "MONOCHROME2",
  bitsAllocated: 16,
  bitsStored: 12,
  highBit: 11,
  pixelRepresentation: 0,
  planarConfiguration: 0,
  numberOfFrames: 1,
  rescale: { slope: 1, intercept: 0 },
  windows: [],
  voiFunction: "LINEAR",
  voiLuts: [],
  ...over,
});
const samples = (...v: number[]): Samples => ({
  width: v.length,
  height: 1,
  channels: 1,
  data: Float32Array.from(v),
});

Deno.test("windowFunction() LINEAR follows PS3.3 C.11.2.1.2.1 at its edges", () => {
  const f = windowFunction({ center: 2048, width: 4096 }, "LINEAR");
  assert.equal(f(0), 0); // x <= c - 0.5 - (w-1)/2
  assert.equal(f(4095.5), 1); // x > c - 0.5 + (w-1)/2
  assert.ok(Math.abs(f(2047.5) - 0.5) < 1e-12);
  // Width 1: a threshold at the center.
  const t = windowFunction({ center: 10, width: 1 }, "LINEAR");
  assert.deepEqual([t(9), t(9.5), t(10)], [0, 0, 1]);
});

Deno.test("windowFunction() LINEAR_EXACT and SIGMOID follow C.11.2.1.3", () => {
  const e = windowFunction({ center: 100, width: 200 }, "LINEAR_EXACT");
  assert.deepEqual([e(0), e(100), e(200), e(201)], [0, 0.5, 1, 1]);
  const s = windowFunction({ center: 100, width: 200 }, "SIGMOID");
  assert.equal(s(100), 0.5);
  assert.ok(s(0) < 0.2 && s(200) > 0.8);
});

Deno.test("chooseVoi() takes the request's window, then the object's, then its VOI LUT, then min-max", () => {
  const lut = { firstMapped: 0, bits: 8, data: Uint16Array.from([0, 255]) };
  const window = { center: 1, width: 2 };
  const s = samples(10, 20, 30, 40);
  assert.equal(
    chooseVoi(s, attrs({ windows: [window], voiLuts: [lut] }), { ...window, function: "SIGMOID" }).source,
    "request",
  );
  assert.equal(chooseVoi(s, attrs({ windows: [window], voiLuts: [lut] })).source, "window");
  assert.equal(chooseVoi(s, attrs({ voiLuts: [lut] })).source, "voi-lut");
  const { voi, source } = chooseVoi(s, attrs());
  assert.equal(source, "min-max");
  assert.deepEqual(Array.from(grayTo8(s, voi, false)), [0, 85, 170, 255]);
  assert.deepEqual(Array.from(grayTo8(s, voi, true)), [255, 170, 85, 0], "MONOCHROME1 inverts");
});

Deno.test("applyModality() rescales, and a Modality LUT wins over rescale, clamped at its ends", () => {
  const s = samples(0, 1, 2);
  applyModality(s, attrs({ rescale: { slope: 2, intercept: -1024 } }));
  assert.deepEqual(Array.from(s.data), [-1024, -1022, -1020]);
  const t = samples(-5, 0, 1, 9);
  applyModality(
    t,
    attrs({
      rescale: { slope: 2, intercept: 5 },
      modalityLut: { firstMapped: 0, bits: 16, data: Uint16Array.from([7, 8]) },
    }),
  );
  assert.deepEqual(Array.from(t.data), [7, 7, 8, 8]);
});
