/**
 * Frames of a Part 10 object's pixel data (WADO-RS `/frames`, rendering): native frames are cut by
 * size (Rows × Columns × SamplesPerPixel × BitsAllocated / 8, two samples a pixel for YBR_FULL_422) from
 * the pixel data value (or Float or Double Float Pixel Data: 4 or 8 bytes a sample); encapsulated
 * frames are found from the Basic Offset Table, or one fragment per frame, or all fragments for a
 * single frame, or, with no offset table and several fragments a frame, from the fragments that begin
 * with a frame's start marker (as DCMTK and pydicom find them). Only the bytes of the asked frames (and,
 * in that last case, the first bytes of each fragment) are read.
 */
import { encodingOf, findElement, numberValues, stringValue, TransferSyntax } from "@conduit/shared/dicom";
import { pixelDataElement, readHeader } from "./header.ts";
import { FragmentError, readFragments } from "./fragments.ts";
import { type ByteSource, readExactly, ShortSourceError } from "./source.ts";

export const FLOAT_PIXEL_DATA = 0x7fe00008, DOUBLE_FLOAT_PIXEL_DATA = 0x7fe00009;

/** The frames asked for cannot be served from this object; the message says why. */
export class FrameError extends Error {
  override name = "FrameError";
}

/**
 * The object's pixel data contradicts its header, so no frame can be cut from it truthfully: native
 * (defined length) pixel data under an encapsulated syntax, fragments under a native one (PS3.5 A.4 and
 * 8.2), or native samples of a Bits Allocated other than 1 or a multiple of 8 (PS3.5 8.1.1).
 */
export class PixelDataMismatchError extends FrameError {
  override name = "PixelDataMismatchError";
}

/** The syntaxes whose Pixel Data is native (a defined length); Deflated is inflated before it is read. */
const NATIVE_SYNTAXES: readonly string[] = [
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
];

/** True for the syntaxes whose Pixel Data is native: frames of any other are not native samples. */
export function isNativeSyntax(transferSyntax: string): boolean {
  return NATIVE_SYNTAXES.includes(transferSyntax);
}

/**
 * True for a syntax PS3.5 defines with encapsulated Pixel Data: the JPEG family, JPEG 2000, HTJ2K, JPEG XL,
 * JPIP, the video syntaxes (all 1.2.840.10008.1.2.4.x), RLE Lossless, Encapsulated Uncompressed Explicit VR
 * Little Endian and Deflated Image Frame Compression. A private or unknown syntax is neither this nor native.
 */
function isEncapsulatedSyntax(transferSyntax: string): boolean {
  return transferSyntax.startsWith("1.2.840.10008.1.2.4.") || ENCAPSULATED_OTHERS.includes(transferSyntax);
}
const ENCAPSULATED_OTHERS: readonly string[] = [
  TransferSyntax.Rle,
  "1.2.840.10008.1.2.1.98", // Encapsulated Uncompressed Explicit VR Little Endian
  "1.2.840.10008.1.2.8.1", // Deflated Image Frame Compression
];

/** Why pixel data of this encoding contradicts its syntax, or undefined when it does not. */
export function mismatch(transferSyntax: string, encapsulated: boolean): string | undefined {
  if (!encapsulated && isEncapsulatedSyntax(transferSyntax)) {
    return `the pixel data is native (not encapsulated) but transfer syntax ${transferSyntax} is an encapsulated one (PS3.5 A.4)`;
  }
  if (encapsulated && isNativeSyntax(transferSyntax)) {
    return `the pixel data is encapsulated (fragments) but transfer syntax ${transferSyntax} is a native one (PS3.5 A.4)`;
  }
  return undefined;
}

export interface FrameRange {
  /** Pieces of the file that make the frame, in order. */
  pieces: { offset: number; length: number }[];
  size: number;
}

export interface FrameLayout {
  transferSyntax: string;
  encapsulated: boolean;
  frames: FrameRange[];
  /** For native frames: where the pixel value starts and its VR (a big endian one is swapped by it). */
  value?: { offset: number; vr: string };
}

/** Why native samples of `bits` Bits Allocated cannot be cut, or undefined when they can. */
function bitsMismatch(bits: number): string | undefined {
  if (bits === 1 || (bits > 0 && bits % 8 === 0)) return undefined;
  return `Bits Allocated ${bits}: native pixel data has 1 or a multiple of 8 bits a sample (PS3.5 8.1.1)`;
}

/**
 * Throws PixelDataMismatchError when the object's Pixel Data contradicts its header (as `frameLayout`
 * would), before anything is decoded or transcoded; an object without Pixel Data, or a deflated one,
 * passes (the paths that serve them say why they cannot).
 */
export async function checkPixelData(source: ByteSource): Promise<void> {
  const file = await readHeader(source);
  const encoding = encodingOf(file.header.transferSyntax);
  if (encoding.deflated) return;
  const pixels = await pixelDataElement(file, source);
  if (!pixels) return;
  let why = mismatch(file.header.transferSyntax, pixels.length < 0);
  if (!why && pixels.length >= 0) {
    const el = findElement(file.dataset, 0x00280100);
    const bits = el ? numberValues(file.bytes, el, encoding.littleEndian)[0] : undefined;
    why = bitsMismatch(bits ?? 16);
  }
  if (why) throw new PixelDataMismatchError(why);
}

/**
 * Where frames `wanted` (1-based; "all": every frame, in order) of an archived object lie; one source,
 * read only where needed.
 */
export async function frameLayout(source: ByteSource, wanted: number[] | "all"): Promise<FrameLayout> {
  const file = await readHeader(source);
  const encoding = encodingOf(file.header.transferSyntax);
  if (encoding.deflated) throw new FrameError("frames of deflated objects are not served");
  const num = (tag: number) => {
    const el = findElement(file.dataset, tag);
    return el ? numberValues(file.bytes, el, encoding.littleEndian)[0] : undefined;
  };
  const framesEl = findElement(file.dataset, 0x00280008);
  const count = framesEl ? Number(stringValue(file.bytes, framesEl)) || 1 : 1;
  if (wanted === "all") wanted = Array.from({ length: count }, (_, i) => i + 1);
  for (const f of wanted) {
    if (f < 1 || f > count) throw new FrameError(`frame ${f} does not exist (the instance has ${count})`);
  }
  let pixels = await pixelDataElement(file, source);
  // Float Pixel Data (32-bit) or Double Float Pixel Data (64-bit), native, in the header's bytes.
  const float = findElement(file.dataset, FLOAT_PIXEL_DATA) ??
    findElement(file.dataset, DOUBLE_FLOAT_PIXEL_DATA);
  const floatBits = !pixels && float && float.length >= 0
    ? (float.tag === FLOAT_PIXEL_DATA ? 32 : 64)
    : undefined;
  if (floatBits) pixels = { vr: float!.vr, valueOffset: float!.valueOffset, length: float!.length };
  if (!pixels) throw new FrameError("the instance has no pixel data");
  const contradiction = mismatch(file.header.transferSyntax, pixels.length < 0);
  if (contradiction) throw new PixelDataMismatchError(contradiction);
  if (pixels.length >= 0) {
    const rows = num(0x00280010) ?? 0, columns = num(0x00280011) ?? 0;
    const bits = floatBits ?? num(0x00280100) ?? 16;
    const oddBits = bitsMismatch(bits);
    if (oddBits) throw new PixelDataMismatchError(oddBits);
    let samples = num(0x00280002) ?? 1;
    // Native YBR_FULL_422 keeps two samples per pixel: Y1 Y2 Cb Cr for each pair (PS3.3 C.7.6.3.1.2).
    const photometric = findElement(file.dataset, 0x00280004);
    if (samples === 3 && photometric && stringValue(file.bytes, photometric) === "YBR_FULL_422") samples = 2;
    const size = Math.ceil((rows * columns * samples * bits) / 8);
    if (!size || size * count > pixels.length) {
      throw new FrameError("the pixel data is shorter than Rows, Columns and NumberOfFrames say");
    }
    if (bits === 1 && count > 1 && (rows * columns * samples) % 8 !== 0) {
      // Frames are packed bit after bit: this one's frames do not start on a byte.
      throw new FrameError(
        "1-bit multi-frame pixel data whose frames do not start on a byte is not cut into frames",
      );
    }
    return {
      transferSyntax: file.header.transferSyntax,
      encapsulated: false,
      frames: wanted.map((f) => ({
        pieces: [{ offset: pixels.valueOffset + (f - 1) * size, length: size }],
        size,
      })),
      value: { offset: pixels.valueOffset, vr: pixels.vr },
    };
  }
  let list;
  try {
    list = (await readFragments(source, pixels.valueOffset, encoding.littleEndian)).fragments;
  } catch (err) {
    if (err instanceof FragmentError) throw new FrameError(err.message);
    throw err;
  }
  const [table, ...rest] = list;
  let perFrame: { valueOffset: number; length: number }[][];
  if (table && table.length >= 4 * count && count > 0) {
    const raw = await readExactly(source, table.valueOffset, 4 * count).catch((err) => {
      throw err instanceof ShortSourceError ? new FrameError("the file ends inside its pixel data") : err;
    });
    const v = new DataView(raw.buffer);
    const offsets = Array.from({ length: count }, (_, i) => v.getUint32(4 * i, true));
    const first = rest[0]?.valueOffset ?? 0;
    perFrame = offsets.map((start, i) => {
      const end = i + 1 < offsets.length ? offsets[i + 1] : Infinity;
      // Offsets count from the first fragment's item header.
      return rest.filter((r) => r.valueOffset - first >= start && r.valueOffset - first < end);
    });
  } else if (count === 1) perFrame = [rest];
  else if (rest.length === count) perFrame = rest.map((r) => [r]);
  else {
    const byMarkers = await framesByMarkers(source, rest, count);
    if (!byMarkers) {
      throw new FrameError(
        "frames cannot be told apart: no Basic Offset Table, not one fragment per frame, and no frame start marker at the start of each frame",
      );
    }
    perFrame = byMarkers;
  }
  return {
    transferSyntax: file.header.transferSyntax,
    encapsulated: true,
    frames: wanted.map((f) => {
      const pieces = perFrame[f - 1].map((r) => ({ offset: r.valueOffset, length: r.length }));
      return { pieces, size: pieces.reduce((n, p) => n + p.length, 0) };
    }),
  };
}

/**
 * Whether `head` (a fragment's first bytes) starts a compressed frame: a JPEG or JPEG-LS SOI marker
 * (FF D8 FF), a JPEG 2000 or HTJ2K codestream (SOC and SIZ: FF 4F FF 51) or a JP2 file's signature box.
 */
function startsFrame(head: Uint8Array): boolean {
  const [a, b, c, d] = head;
  if (a === 0xff && b === 0xd8 && c === 0xff) return true;
  if (a === 0xff && b === 0x4f && c === 0xff && d === 0x51) return true;
  return head.length >= 8 && a === 0 && b === 0 && c === 0 && d === 0x0c && head[4] === 0x6a &&
    head[5] === 0x50 && head[6] === 0x20 && head[7] === 0x20;
}

/**
 * The fragments of each of `count` frames when each frame's first fragment begins with a start marker
 * and no other does (PS3.5 A.4 lets a frame span fragments without an offset table); undefined when the
 * markers do not give exactly `count` frames.
 */
async function framesByMarkers<F extends { valueOffset: number; length: number }>(
  source: ByteSource,
  fragments: F[],
  count: number,
): Promise<F[][] | undefined> {
  const frames: F[][] = [];
  for (const fragment of fragments) {
    const head = await readExactly(source, fragment.valueOffset, Math.min(8, fragment.length)).catch(
      (err) => {
        throw err instanceof ShortSourceError ? new FrameError("the file ends inside its pixel data") : err;
      },
    );
    if (startsFrame(head)) {
      if (frames.length === count) return undefined;
      frames.push([fragment]);
    } else if (frames.length === 0) return undefined;
    else frames[frames.length - 1].push(fragment);
  }
  return frames.length === count ? frames : undefined;
}
