/**
 * Rendering one frame (PS3.18 10.4 rendered resources, 10.6 thumbnails): the frame's samples, the Modality
 * LUT, cropping and scaling to the viewport (aspect kept), the VOI transformation, MONOCHROME1 (or a
 * Presentation LUT Shape of INVERSE) inverted, then JPEG or PNG. `renderBytes` is what the rendering worker runs.
 */
import { RenderRequestError } from "./errors.ts";
import { encodeImage, type Image8, type RenderedMediaType } from "./encode.ts";
import { applyModality, chooseVoi, grayTo8, paletteToRgb, scaleRgb, to8, type WindowRequest } from "./lut.ts";
import { frameSamples } from "./pixels.ts";
import { fitSize, type Region, resample } from "./scale.ts";
import { decodeFrame, decodeFrames, type SourceFrame } from "./source.ts";
import type { FrameBytes } from "./read.ts";

export interface RenderOptions {
  media: RenderedMediaType;
  /** JPEG quality, 1 to 100. */
  quality?: number;
  window?: WindowRequest;
  /** The output fits in this box, aspect kept; a missing side follows the other. */
  viewport?: { width?: number; height?: number; region?: Region };
}

export interface Rendered {
  bytes: Uint8Array;
  width: number;
  height: number;
  /** Where the VOI transformation came from (grayscale only). */
  voi?: "request" | "window" | "voi-lut" | "min-max";
}

/** Renders a frame that has been read. */
function renderFrame(source: SourceFrame, o: RenderOptions): Rendered {
  const a = source.attrs;
  let s = frameSamples(source.pixels, a, source.littleEndian);
  const region = o.viewport?.region;
  if (region) {
    const { x, y, width, height } = region;
    if (x < 0 || y < 0 || width < 1 || height < 1 || x + width > s.width || y + height > s.height) {
      throw new RenderRequestError(
        `viewport: the region ${x},${y},${width},${height} is not inside the ${s.width} × ${s.height} frame`,
      );
    }
  }
  const [sw, sh] = region ? [region.width, region.height] : [s.width, s.height];
  const [width, height] = fitSize(sw, sh, o.viewport?.width, o.viewport?.height);
  let image: Image8;
  let voiSource: Rendered["voi"];
  if (s.channels === 1 && a.photometric !== "PALETTE COLOR") {
    applyModality(s, a);
    // The VOI is chosen on the whole frame (a min-max window sees every pixel), applied after scaling.
    const { voi, source } = chooseVoi(s, a, o.window);
    voiSource = source;
    s = resample(s, width, height, region);
    // MONOCHROME1 is shown inverted, and so is an image whose Presentation LUT Shape is INVERSE (which
    // for MONOCHROME1 says the same thing again: it is inverted once).
    const invert = a.photometric === "MONOCHROME1" || a.presentationShape === "INVERSE";
    image = { width, height, channels: 1, data: grayTo8(s, voi, invert) };
  } else {
    if (s.channels === 1) s = paletteToRgb(s, a.palette!);
    else scaleRgb(s, a.bitsStored);
    s = resample(s, width, height, region);
    image = { width, height, channels: 3, data: to8(s) };
  }
  return { bytes: encodeImage(image, o.media, o.quality), width, height, voi: voiSource };
}

/** Decodes a frame read by `readFrame` (read.ts) and renders it. */
export async function renderBytes(input: FrameBytes, o: RenderOptions): Promise<Rendered> {
  return renderFrame(await decodeFrame(input), o);
}

/** What the rendering worker is asked: a frame's bytes as read here, and how to render them, or which frames to decode. */
export type RenderJob =
  | { input: FrameBytes; options: RenderOptions }
  | { input: FrameBytes; decode: number[] };

/** A rendered image, or decoded frames (native little endian pixels, one buffer each). */
export type RenderJobResult = Rendered | { frames: Uint8Array[] };

/** Runs one job of the rendering worker (or of this thread, where no worker starts). */
export async function runJob(job: RenderJob): Promise<RenderJobResult> {
  if ("decode" in job) return { frames: await decodeFrames(job.input, job.decode) };
  return await renderBytes(job.input, job.options);
}

/** The buffers a job's result moves back. */
export function resultBuffers(r: RenderJobResult): ArrayBuffer[] {
  return ("frames" in r ? r.frames : [r.bytes]).map((b) => b.buffer as ArrayBuffer);
}
