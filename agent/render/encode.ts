/**
 * 8-bit images to JPEG (npm jpeg-js: baseline, colour not subsampled; grey frames go as three equal channels)
 * and PNG (npm fast-png: 8-bit grey or RGB, no filter choice to make). Both are plain JavaScript, so they
 * run wherever the agent does, in a worker or not.
 */
import jpeg from "jpeg-js";
import { encode as encodePng } from "fast-png";

export type RenderedMediaType = "image/jpeg" | "image/png";

/** An 8-bit image: one (grey) or three (RGB) channels, interleaved. */
export interface Image8 {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** The default JPEG quality (PS3.18 leaves it to the server). */
const DEFAULT_QUALITY = 90;

export function encodeImage(img: Image8, media: RenderedMediaType, quality = DEFAULT_QUALITY): Uint8Array {
  if (media === "image/png") {
    return encodePng({
      width: img.width,
      height: img.height,
      data: img.data,
      channels: img.channels,
      depth: 8,
    });
  }
  const n = img.width * img.height;
  const rgba = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) {
    if (img.channels === 1) {
      const v = img.data[i];
      rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = v;
    } else {
      rgba[4 * i] = img.data[3 * i];
      rgba[4 * i + 1] = img.data[3 * i + 1];
      rgba[4 * i + 2] = img.data[3 * i + 2];
    }
    rgba[4 * i + 3] = 255;
  }
  const out = jpeg.encode({ width: img.width, height: img.height, data: rgba }, quality).data;
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
