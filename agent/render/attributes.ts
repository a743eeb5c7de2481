/**
 * What rendering needs from an image's header: the Image Pixel module (PS3.3 C.7.6.3), the Modality
 * LUT (rescale or a Modality LUT Sequence, C.11.1), the VOI LUT (windows, a VOI LUT Sequence and the
 * VOI LUT Function, C.11.2), the Presentation LUT Shape (C.11.6) and the palette of PALETTE COLOR images
 * (C.7.6.3.1.5). Enhanced multi-frame
 * objects carry rescale and windows in their functional groups (C.7.6.16): the frame's own group wins
 * over the shared one, which wins over the top level.
 */
import {
  type DataSet,
  type Element,
  findElement,
  numberValues,
  stringValue,
  valueBytes,
} from "@conduit/shared/dicom";
import { RenderError } from "./errors.ts";

/** A lookup table (Modality, VOI or one colour of a palette). */
export interface Lut {
  /** The stored value mapped to the first entry. */
  firstMapped: number;
  /** Bits per entry as the descriptor says (8 to 16). */
  bits: number;
  data: Uint16Array;
}

export type VoiFunction = "LINEAR" | "LINEAR_EXACT" | "SIGMOID";

export interface Window {
  center: number;
  width: number;
}

export interface ImageAttributes {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  photometric: string;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: number;
  planarConfiguration: number;
  numberOfFrames: number;
  /** Rescale (absent: identity), or a Modality LUT, which wins when both are present. */
  rescale: { slope: number; intercept: number };
  modalityLut?: Lut;
  windows: Window[];
  voiFunction: VoiFunction;
  voiLuts: Lut[];
  palette?: { red: Lut; green: Lut; blue: Lut };
  /** 32 or 64 for Float or Double Float Pixel Data (IEEE floats, little endian), else undefined. */
  floatBits?: 32 | 64;
  /** Presentation LUT Shape (2050,0020, PS3.3 C.11.6): INVERSE shows the grey scale inverted. */
  presentationShape?: "IDENTITY" | "INVERSE";
}

export { RenderError } from "./errors.ts";

/** The most samples one frame may have (rows × columns × samples): about 256 MB as floats. */
export const MAX_SAMPLES = 64 * 1024 * 1024;

/**
 * Throws RenderError when a frame of these attributes has more samples than are rendered: asked from the
 * header alone, before the frame's bytes are read (a 200 MB frame is refused without reading it).
 */
export function checkFrameSamples(a: ImageAttributes): void {
  if (a.rows * a.columns * a.samplesPerPixel > MAX_SAMPLES) {
    throw new RenderError(
      `a frame of ${a.columns} × ${a.rows} × ${a.samplesPerPixel} samples is too large to render`,
    );
  }
}

/** Reads elements of one data set (or item) of a buffer in one byte order. */
class Reader {
  constructor(readonly bytes: Uint8Array, readonly ds: DataSet, readonly littleEndian: boolean) {}

  el(tag: number): Element | undefined {
    return findElement(this.ds, tag);
  }
  us(tag: number): number | undefined {
    const el = this.el(tag);
    if (!el || el.length <= 0) return undefined;
    if (el.vr === "US" || el.vr === "SS" || el.vr === "OW" || el.vr === "UN") {
      const raw = valueBytes(this.bytes, el);
      if (raw.length < 2) return undefined;
      const v = new DataView(raw.buffer, raw.byteOffset, 2).getUint16(0, this.littleEndian);
      return el.vr === "SS" ? (v << 16) >> 16 : v;
    }
    return numberValues(this.bytes, el, this.littleEndian)[0];
  }
  /** A descriptor's three values: the second may be signed (SS), whatever the VR says. */
  words(tag: number): number[] {
    const el = this.el(tag);
    if (!el || el.length <= 0) return [];
    const raw = valueBytes(this.bytes, el);
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out: number[] = [];
    for (let i = 0; i + 2 <= raw.length; i += 2) out.push(v.getUint16(i, this.littleEndian));
    return out;
  }
  text(tag: number): string | undefined {
    const el = this.el(tag);
    return el ? stringValue(this.bytes, el) : undefined;
  }
  numbers(tag: number): number[] {
    const t = this.text(tag);
    if (!t) return [];
    return t.split("\\").map((x) => Number(x.trim())).filter((n) => Number.isFinite(n));
  }
  items(tag: number): Reader[] {
    const el = this.el(tag);
    if (!el?.items) return [];
    const le = el.itemsImplicit ? true : this.littleEndian;
    return el.items.map((item) => new Reader(this.bytes, item, le));
  }
}

/**
 * A LUT from its descriptor and data (PS3.3 C.11.1.1.1): 0 entries means 65536; the first mapped value
 * is signed when the pixels are; 8-bit data may be packed one entry per byte.
 */
function readLut(r: Reader, descriptorTag: number, dataTag: number, signed: boolean): Lut | undefined {
  const d = r.words(descriptorTag);
  const el = r.el(dataTag);
  if (d.length < 3 || !el || el.length <= 0) return undefined;
  const entries = d[0] === 0 ? 65536 : d[0];
  const firstMapped = signed ? (d[1] << 16) >> 16 : d[1];
  const bits = d[2];
  const raw = valueBytes(r.bytes, el);
  const data = new Uint16Array(entries);
  if (raw.length >= 2 * entries) {
    const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < entries; i++) data[i] = v.getUint16(2 * i, r.littleEndian);
  } else if (raw.length >= entries && bits <= 8) {
    // Packed 8-bit entries: in a little endian word the first entry is the low byte.
    for (let i = 0; i < entries; i++) {
      const word = i >> 1, low = (i & 1) === 0;
      const at = 2 * word + ((low === r.littleEndian) ? 0 : 1);
      data[i] = raw[Math.min(at, raw.length - 1)];
    }
  } else {
    throw new RenderError(`a lookup table has ${raw.length} bytes of data for ${entries} entries`);
  }
  if (bits < 1 || bits > 16) throw new RenderError(`a lookup table has ${bits} bits per entry`);
  return { firstMapped, bits, data };
}

const PIXEL_VALUE_TRANSFORMATION = 0x00289145;
const FRAME_VOI_LUT = 0x00289132;
const SHARED_GROUPS = 0x52009229;
const PER_FRAME_GROUPS = 0x52009230;

/** The attributes of frame `frame` (1-based) from a header data set. */
export function imageAttributes(
  bytes: Uint8Array,
  dataset: DataSet,
  littleEndian: boolean,
  frame = 1,
): ImageAttributes {
  const r = new Reader(bytes, dataset, littleEndian);
  const floatBits = findElement(dataset, 0x7fe00008) ? 32 : findElement(dataset, 0x7fe00009) ? 64 : undefined;
  const rows = r.us(0x00280010) ?? 0;
  const columns = r.us(0x00280011) ?? 0;
  const bitsAllocated = floatBits ?? r.us(0x00280100) ?? 0;
  if (!rows || !columns || !bitsAllocated) {
    throw new RenderError("the instance is not an image (no Rows, Columns or Bits Allocated)");
  }
  const pixelRepresentation = r.us(0x00280103) ?? 0;
  const signed = pixelRepresentation === 1;
  const bitsStored = r.us(0x00280101) ?? bitsAllocated;
  const attrs: ImageAttributes = {
    rows,
    columns,
    samplesPerPixel: r.us(0x00280002) ?? 1,
    photometric: (r.text(0x00280004) ?? "MONOCHROME2").toUpperCase(),
    bitsAllocated,
    bitsStored,
    highBit: r.us(0x00280102) ?? bitsStored - 1,
    pixelRepresentation,
    planarConfiguration: r.us(0x00280006) ?? 0,
    numberOfFrames: Math.max(1, Math.trunc(Number(r.text(0x00280008) ?? "1")) || 1),
    rescale: { slope: 1, intercept: 0 },
    windows: [],
    voiFunction: "LINEAR",
    voiLuts: [],
    ...(floatBits ? { floatBits } : {}),
  };
  // The Modality LUT and VOI LUT modules at the top level, then the functional groups over them.
  const sources: Reader[] = [r];
  for (const groups of [r.items(SHARED_GROUPS)[0], r.items(PER_FRAME_GROUPS)[frame - 1]]) {
    if (!groups) continue;
    sources.push(...groups.items(PIXEL_VALUE_TRANSFORMATION), ...groups.items(FRAME_VOI_LUT));
  }
  for (const s of sources) {
    const slope = s.numbers(0x00281053)[0], intercept = s.numbers(0x00281052)[0];
    if (slope !== undefined || intercept !== undefined) {
      attrs.rescale = { slope: slope ?? 1, intercept: intercept ?? 0 };
    }
    const centers = s.numbers(0x00281050), widths = s.numbers(0x00281051);
    if (centers.length && widths.length) {
      attrs.windows = centers.slice(0, widths.length).map((center, i) => ({ center, width: widths[i] }))
        .filter((w) => w.width >= 1);
    }
    const fn = s.text(0x00281056)?.toUpperCase();
    if (fn === "LINEAR" || fn === "LINEAR_EXACT" || fn === "SIGMOID") attrs.voiFunction = fn;
  }
  const shape = r.text(0x20500020)?.trim().toUpperCase();
  if (shape === "IDENTITY" || shape === "INVERSE") attrs.presentationShape = shape;
  const modality = r.items(0x00283000)[0];
  if (modality) attrs.modalityLut = readLut(modality, 0x00283002, 0x00283006, signed);
  // A VOI LUT's first mapped value is signed when the values it maps (the Modality LUT's output) can be
  // negative (PS3.3 C.11.2.1.1): signed pixels, or a rescale that goes below zero (unsigned CT stored
  // with an intercept of -1024).
  const { slope, intercept } = attrs.rescale;
  const voiSigned = signed ||
    (!attrs.modalityLut && Math.min(intercept, slope * (2 ** bitsStored - 1) + intercept) < 0);
  attrs.voiLuts = r.items(0x00283010).map((item) => readLut(item, 0x00283002, 0x00283006, voiSigned))
    .filter((l): l is Lut => l !== undefined);
  if (attrs.photometric === "PALETTE COLOR") {
    const red = readLut(r, 0x00281101, 0x00281201, signed);
    const green = readLut(r, 0x00281102, 0x00281202, signed);
    const blue = readLut(r, 0x00281103, 0x00281203, signed);
    if (!red || !green || !blue) {
      throw new RenderError("a PALETTE COLOR image without its palette (descriptors and data)");
    }
    attrs.palette = { red, green, blue };
  }
  return attrs;
}
