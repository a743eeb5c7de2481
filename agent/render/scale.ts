/**
 * Cropping and resizing frames before they are windowed: one axis at a time, each output sample the
 * average of the source samples its box covers, weighted by how much of each it covers (the area
 * averaging of pbmplus' pnmscale, which DCMTK uses by default): shrinking averages, enlarging replicates
 * with the pixels at box edges blended.
 */
import type { Samples } from "./pixels.ts";

/** A region of the source (PS3.18 8.3.5.1.3 sx, sy, sw, sh), in pixels. */
export interface Region {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** The largest output side: a 4096 × 4096 colour PNG is at most 48 MiB. */
export const MAX_SIDE = 4096;

/**
 * The output size for a `width` × `height` source fitted into a `vw` × `vh` viewport with its aspect
 * kept (a missing side follows the other), never with a side over MAX_SIDE.
 */
export function fitSize(width: number, height: number, vw?: number, vh?: number): [number, number] {
  let k = vw || vh ? Math.min(vw ? vw / width : Infinity, vh ? vh / height : Infinity) : 1;
  k = Math.min(k, MAX_SIDE / width, MAX_SIDE / height);
  return [Math.max(1, Math.round(width * k)), Math.max(1, Math.round(height * k))];
}

/** Weights of the source positions [from, from + length) that make each of `n` outputs. */
function weights(from: number, length: number, n: number): { start: number; w: Float32Array }[] {
  const step = length / n;
  const out: { start: number; w: Float32Array }[] = [];
  for (let i = 0; i < n; i++) {
    // The box [a, b) of the source this output covers, partial pixels at its edges.
    const a = from + i * step, b = a + step;
    const start = Math.max(from, Math.floor(a + 1e-6));
    const end = Math.max(start + 1, Math.min(from + length, Math.ceil(b - 1e-6)));
    const w = new Float32Array(end - start);
    for (let k = start; k < end; k++) w[k - start] = (Math.min(b, k + 1) - Math.max(a, k)) / step;
    out.push({ start, w });
  }
  return out;
}

/** The `region` of `s` (default all of it) resized to `width` × `height`. */
export function resample(s: Samples, width: number, height: number, region?: Region): Samples {
  const r = region ?? { x: 0, y: 0, width: s.width, height: s.height };
  if (!region && width === s.width && height === s.height) return s;
  const ch = s.channels;
  // Columns first: r.height rows of `width` outputs.
  const cols = weights(r.x, r.width, width);
  const mid = new Float32Array(r.height * width * ch);
  for (let y = 0; y < r.height; y++) {
    const row = (r.y + y) * s.width;
    for (let x = 0; x < width; x++) {
      const { start, w } = cols[x];
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k] * s.data[(row + start + k) * ch + c];
        mid[(y * width + x) * ch + c] = acc;
      }
    }
  }
  const rows = weights(0, r.height, height);
  const out = new Float32Array(height * width * ch);
  for (let y = 0; y < height; y++) {
    const { start, w } = rows[y];
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < ch; c++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k] * mid[((start + k) * width + x) * ch + c];
        out[(y * width + x) * ch + c] = acc;
      }
    }
  }
  return { width, height, channels: ch, data: out };
}
