import assert from "node:assert/strict";
import type { ImageAttributes } from "./attributes.ts";
import { frameSamples } from "./pixels.ts";

const base: ImageAttributes = {
  rows: 1,
  columns: 2,
  samplesPerPixel: 1,
  photometric: "MONOCHROME2",
  bitsAllocated: 16,
  bitsStored: 16,
  highBit: 15,
  pixelRepresentation: 0,
  planarConfiguration: 0,
  numberOfFrames: 1,
  rescale: { slope: 1, intercept: 0 },
  windows: [],
  voiFunction: "LINEAR",
  voiLuts: [],
};

Deno.test("frameSamples() masks to Bits Stored under High Bit and sign-extends", () => {
  // 12 bits stored at bits 11..0, with garbage above (an overlay bit, say): 0xF800 | 0x800 -> -2048.
  const a = { ...base, bitsStored: 12, highBit: 11, pixelRepresentation: 1 };
  const le = Uint8Array.from([0x00, 0xf8, 0xff, 0x07]);
  assert.deepEqual(Array.from(frameSamples(le, a, true).data), [-2048, 2047]);
  const be = Uint8Array.from([0xf8, 0x00, 0x07, 0xff]);
  assert.deepEqual(Array.from(frameSamples(be, a, false).data), [-2048, 2047]);
  // High bit not at the top of the stored bits' word: 8 bits at 11..4.
  const shifted = { ...base, bitsStored: 8, highBit: 11 };
  assert.deepEqual(Array.from(frameSamples(Uint8Array.from([0xf0, 0x0a, 0x10, 0x00]), shifted, true).data), [
    0xaf,
    1,
  ]);
});

Deno.test("frameSamples() unpacks 1-bit pixels, low bit first", () => {
  const a = { ...base, columns: 8, bitsAllocated: 1, bitsStored: 1, highBit: 0 };
  assert.deepEqual(Array.from(frameSamples(Uint8Array.from([0b10000101]), a, true).data), [
    1,
    0,
    1,
    0,
    0,
    0,
    0,
    1,
  ]);
});

Deno.test("frameSamples() interleaves planar RGB and converts YBR_FULL_422 pairs", () => {
  const rgb = {
    ...base,
    samplesPerPixel: 3,
    photometric: "RGB",
    bitsAllocated: 8,
    bitsStored: 8,
    highBit: 7,
  };
  const planar = frameSamples(Uint8Array.from([1, 2, 3, 4, 5, 6]), { ...rgb, planarConfiguration: 1 }, true);
  assert.deepEqual(Array.from(planar.data), [1, 3, 5, 2, 4, 6]);
  // Y1 Y2 Cb Cr with neutral chroma: two greys.
  const ybr = frameSamples(
    Uint8Array.from([50, 200, 128, 128]),
    { ...rgb, photometric: "YBR_FULL_422" },
    true,
  );
  assert.deepEqual(Array.from(ybr.data).map(Math.round), [50, 50, 50, 200, 200, 200]);
});

Deno.test("frameSamples() refuses what it cannot read with the reason", () => {
  assert.throws(() => frameSamples(new Uint8Array(2), base, true), /2 bytes of pixel data, 4 expected/);
  assert.throws(
    () => frameSamples(new Uint8Array(12), { ...base, samplesPerPixel: 3, photometric: "CMYK" }, true),
    /CMYK/,
  );
  assert.throws(
    () => frameSamples(new Uint8Array(4), { ...base, bitsStored: 16, highBit: 7 }, true),
    /do not fit/,
  );
});
