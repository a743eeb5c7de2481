/**
 * The grayscale pipeline of PS3.3 C.11 and its colour counterparts: the Modality LUT (rescale slope and
 * intercept, or a Modality LUT Sequence), then a VOI transformation chosen in this order: the window the
 * request gives, the object's first window (with its VOI LUT Function), the object's first VOI LUT, else
 * a window over the frame's minimum and maximum; then MONOCHROME1 (or Presentation LUT Shape INVERSE)
 * inverted. PALETTE COLOR looks each
 * stored value up in the palette; RGB is scaled from Bits Stored to 8 bits.
 */
import type { ImageAttributes, Lut, VoiFunction, Window } from "./attributes.ts";
import type { Samples } from "./pixels.ts";

/** A window the request asks for (PS3.18 8.3.5.1.4); `function` as PS3.3 names it. */
export interface WindowRequest extends Window {
  function: VoiFunction;
}

function lookup(lut: Lut, v: number): number {
  const i = Math.round(v) - lut.firstMapped;
  return lut.data[i < 0 ? 0 : i >= lut.data.length ? lut.data.length - 1 : i];
}

/** Stored values to modality values (in place, one channel). */
export function applyModality(s: Samples, a: ImageAttributes): void {
  const d = s.data;
  if (a.modalityLut) {
    const lut = a.modalityLut;
    for (let i = 0; i < d.length; i++) d[i] = lookup(lut, d[i]);
    return;
  }
  const { slope, intercept } = a.rescale;
  if (slope === 1 && intercept === 0) return;
  for (let i = 0; i < d.length; i++) d[i] = d[i] * slope + intercept;
}

function minMax(d: Float32Array): [number, number] {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** A function from a modality value to an output value in [0, 1]. */
export type Voi = (v: number) => number;

/** The window functions of PS3.3 C.11.2.1.2 and C.11.2.1.3, to [0, 1]. */
export function windowFunction(w: Window, fn: VoiFunction): Voi {
  const { center: c, width } = w;
  if (fn === "SIGMOID") return (x) => 1 / (1 + Math.exp(-4 * (x - c) / width));
  if (fn === "LINEAR_EXACT") {
    return (x) => x <= c - width / 2 ? 0 : x > c + width / 2 ? 1 : (x - c) / width + 0.5;
  }
  const w1 = width - 1; // 0 for a width of 1: a threshold, the last branch never reached
  const lo = c - 0.5 - w1 / 2, hi = c - 0.5 + w1 / 2;
  return (x) => x <= lo ? 0 : x > hi ? 1 : (x - (c - 0.5)) / w1 + 0.5;
}

/** How a frame's modality values are windowed: the request's, the object's, or min-max. */
export function chooseVoi(
  s: Samples,
  a: ImageAttributes,
  requested?: WindowRequest,
): { voi: Voi; source: "request" | "window" | "voi-lut" | "min-max" } {
  if (requested) return { voi: windowFunction(requested, requested.function), source: "request" };
  if (a.windows.length > 0) return { voi: windowFunction(a.windows[0], a.voiFunction), source: "window" };
  const lut = a.voiLuts[0];
  if (lut) {
    // The entry scaled to 8 bits and rounded, as DCMTK does.
    const k = 255 / (2 ** lut.bits - 1);
    return { voi: (x) => Math.round(lookup(lut, x) * k) / 255, source: "voi-lut" };
  }
  const [min, max] = minMax(s.data);
  if (a.floatBits) {
    // Float values are not whole numbers: the window spans exactly from the minimum to the maximum.
    const voi = max > min
      ? windowFunction({ center: (min + max) / 2, width: max - min }, "LINEAR_EXACT")
      : (_: number) => 0;
    return { voi, source: "min-max" };
  }
  // DCMTK's min-max window: center (min + max + 1) / 2, width max - min + 1, so min -> 0 and max -> 1.
  const voi = max > min ? windowFunction({ center: (min + max + 1) / 2, width: max - min + 1 }, "LINEAR") : (
    _: number,
  ) => 0;
  return { voi, source: "min-max" };
}

/**
 * Grayscale modality values through `voi` to 8 bits, inverted for MONOCHROME1. Fractions are dropped
 * (not rounded), as DCMTK does: the same window then gives the same bytes.
 */
export function grayTo8(s: Samples, voi: Voi, invert: boolean): Uint8Array {
  const out = new Uint8Array(s.data.length);
  for (let i = 0; i < out.length; i++) {
    const y = voi(s.data[i]);
    out[i] = Math.floor((invert ? 1 - y : y) * 255 + 1e-6);
  }
  return out;
}

/** A PALETTE COLOR frame's stored values to RGB on a 0-255 scale (three channels). */
export function paletteToRgb(s: Samples, palette: NonNullable<ImageAttributes["palette"]>): Samples {
  const out = new Float32Array(3 * s.data.length);
  const luts = [palette.red, palette.green, palette.blue];
  const scales = luts.map((l) => 255 / (2 ** l.bits - 1));
  for (let i = 0; i < s.data.length; i++) {
    for (let c = 0; c < 3; c++) out[3 * i + c] = lookup(luts[c], s.data[i]) * scales[c];
  }
  return { width: s.width, height: s.height, channels: 3, data: out };
}

/** RGB samples of `bitsStored` bits to a 0-255 scale, in place. */
export function scaleRgb(s: Samples, bitsStored: number): void {
  if (bitsStored === 8) return;
  const k = 255 / (2 ** bitsStored - 1);
  for (let i = 0; i < s.data.length; i++) s.data[i] *= k;
}

/** Samples on a 0-255 scale to bytes. */
export function to8(s: Samples): Uint8Array {
  const out = new Uint8Array(s.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.round(s.data[i]);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}
