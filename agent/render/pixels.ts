/**
 * A frame's pixel data as numbers: stored values of 1, 8, 16 or 32 bits allocated in either byte order,
 * masked to Bits Stored below High Bit and sign-extended where Pixel Representation says so; colour
 * frames come out interleaved RGB (planar configuration 1 interleaved, YBR_FULL and YBR_FULL_422 turned
 * into RGB with PS3.3 C.7.6.3.1.2's equations).
 */
import { checkFrameSamples, type ImageAttributes, RenderError } from "./attributes.ts";

/** Samples of one frame: `channels` values per pixel, interleaved, row by row. */
export interface Samples {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Float32Array;
}

/** The stored values of a frame's bytes, one number per sample, in storage order. */
function storedValues(
  bytes: Uint8Array,
  a: ImageAttributes,
  count: number,
  littleEndian: boolean,
): Float32Array {
  const out = new Float32Array(count);
  if (a.floatBits) {
    const size = a.floatBits / 8;
    if (bytes.length < count * size) {
      throw new RenderError(`the frame has ${bytes.length} bytes of pixel data, ${count * size} expected`);
    }
    const floats = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) {
      out[i] = size === 4 ? floats.getFloat32(4 * i, littleEndian) : floats.getFloat64(8 * i, littleEndian);
    }
    return out;
  }
  const shift = a.bitsAllocated === 1 ? 0 : a.highBit + 1 - a.bitsStored;
  const bits = a.bitsAllocated === 1 ? 1 : a.bitsStored;
  if (shift < 0 || bits < 1 || bits > a.bitsAllocated) {
    throw new RenderError(
      `Bits Stored ${a.bitsStored} and High Bit ${a.highBit} do not fit Bits Allocated ${a.bitsAllocated}`,
    );
  }
  const mask = bits >= 32 ? 0xffffffff : (2 ** bits) - 1;
  const signBit = 2 ** (bits - 1);
  const signed = a.pixelRepresentation === 1;
  const bytesPer = a.bitsAllocated / 8;
  const need = a.bitsAllocated === 1 ? Math.ceil(count / 8) : count * bytesPer;
  if (bytes.length < need) {
    throw new RenderError(`the frame has ${bytes.length} bytes of pixel data, ${need} expected`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) {
    let raw: number;
    switch (a.bitsAllocated) {
      case 1:
        raw = (bytes[i >> 3] >> (i & 7)) & 1;
        break;
      case 8:
        raw = bytes[i];
        break;
      case 16:
        raw = view.getUint16(2 * i, littleEndian);
        break;
      case 32:
        raw = view.getUint32(4 * i, littleEndian);
        break;
      default:
        throw new RenderError(`Bits Allocated ${a.bitsAllocated} is not rendered (1, 8, 16 or 32)`);
    }
    let v = bits >= 32 ? raw >>> shift : Math.floor(raw / 2 ** shift) % (mask + 1);
    if (signed && v >= signBit) v -= 2 * signBit;
    out[i] = v;
  }
  return out;
}

/** YCbCr (full range, PS3.3 C.7.6.3.1.2's equations inverted) to RGB, in place, on a `max` scale. */
function ybrToRgb(data: Float32Array, max: number): void {
  const half = (max + 1) / 2;
  for (let i = 0; i < data.length; i += 3) {
    const y = data[i], cb = data[i + 1] - half, cr = data[i + 2] - half;
    data[i] = y + 1.402 * cr;
    data[i + 1] = y - 0.344136 * cb - 0.714136 * cr;
    data[i + 2] = y + 1.772 * cb;
  }
}

/**
 * The samples of a frame. `bytes` holds the frame as stored (native) or as decoded; `littleEndian` is the
 * byte order of its 16- and 32-bit words.
 */
export function frameSamples(bytes: Uint8Array, a: ImageAttributes, littleEndian: boolean): Samples {
  const width = a.columns, height = a.rows, n = width * height;
  const photometric = a.photometric;
  const color = a.samplesPerPixel === 3;
  if (!color && a.samplesPerPixel !== 1) {
    throw new RenderError(`Samples per Pixel ${a.samplesPerPixel} is not rendered (1 or 3)`);
  }
  checkFrameSamples(a);
  if (!color) {
    if (!["MONOCHROME1", "MONOCHROME2", "PALETTE COLOR"].includes(photometric)) {
      throw new RenderError(`Photometric Interpretation ${photometric} with one sample is not rendered`);
    }
    return { width, height, channels: 1, data: storedValues(bytes, a, n, littleEndian) };
  }
  if (photometric === "YBR_FULL_422" && a.bitsAllocated === 8 && bytes.length < 3 * n) {
    // Native 4:2:2: each pair of pixels is Y1 Y2 Cb Cr (PS3.5 8.2.1 and PS3.3 C.7.6.3.1.2).
    if (width % 2 !== 0) throw new RenderError("YBR_FULL_422 with an odd number of columns");
    if (bytes.length < 2 * n) {
      throw new RenderError(`the frame has ${bytes.length} bytes of pixel data, ${2 * n} expected`);
    }
    const data = new Float32Array(3 * n);
    for (let p = 0, b = 0; p < n; p += 2, b += 4) {
      const cb = bytes[b + 2], cr = bytes[b + 3];
      data.set([bytes[b], cb, cr, bytes[b + 1], cb, cr], 3 * p);
    }
    ybrToRgb(data, 255);
    return { width, height, channels: 3, data };
  }
  const stored = storedValues(bytes, a, 3 * n, littleEndian);
  let data = stored;
  if (a.planarConfiguration === 1) {
    data = new Float32Array(3 * n);
    for (let i = 0; i < n; i++) {
      data[3 * i] = stored[i];
      data[3 * i + 1] = stored[n + i];
      data[3 * i + 2] = stored[2 * n + i];
    }
  }
  if (photometric === "YBR_FULL" || photometric === "YBR_FULL_422") ybrToRgb(data, 2 ** a.bitsStored - 1);
  else if (photometric !== "RGB") {
    throw new RenderError(`Photometric Interpretation ${photometric} is not rendered`);
  }
  return { width, height, channels: 3, data };
}
