/**
 * Pixel transcoding with dcmjs-codecs (its WebAssembly build of libjpeg, CharLS, OpenJPEG and
 * others): a whole Part 10 object in, the same object in another transfer syntax out. The data set
 * is decoded and written again by dcmjs, so unlike every other path in the agent the output is not
 * byte-preserving: only asked-for transcodes come here. Also one compressed frame in, its native pixels
 * out, for rendering (agent/render). Runs in a worker (the transcoding worker, worker.ts, or the
 * rendering worker), or in the calling thread where no worker can be started.
 */
import codecs from "dcmjs-codecs";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { quietDicomLibraries } from "../dimse/quiet_libraries.ts";
import { canDecodeFrames, FRAME_CODECS, JPEG } from "./syntaxes.ts";
import { frameLayout } from "../part10/frames.ts";
import { memorySource } from "../part10/source.ts";

export { canDecodeFrames } from "./syntaxes.ts";

// deno-lint-ignore no-explicit-any
const lib = codecs as any;
const { NativeCodecs, Transcoder } = lib;

let ready: Promise<void> | undefined;

/**
 * The codecs' WebAssembly file where the split bundle (deploy/bundle.ts) puts it, beside its chunks;
 * undefined from source and in a compiled binary, where the library finds it beside its own build.
 */
function bundledWasm(): string | undefined {
  if (!import.meta.url.startsWith("file:")) return undefined;
  const beside = fileURLToPath(new URL("./dcmjs-native-codecs.wasm", import.meta.url));
  return existsSync(beside) ? beside : undefined;
}

function initialize(): Promise<void> {
  if (!ready) {
    // dcmjs logs every private element with its value while transcoding: never PHI in our output.
    quietDicomLibraries();
    ready = NativeCodecs.initializeAsync({
      logCodecsInfo: false,
      logCodecsTrace: false,
      webAssemblyModulePathOrUrl: bundledWasm(),
    });
  }
  return ready!;
}

/**
 * JPEG 2000 and HTJ2K: their encoder applies the multi-component transform to colour pixels whatever it
 * is told, but labels the object YBR_RCT (reversible) or YBR_ICT (irreversible), as PS3.5 8.2.4 requires,
 * only when `allowMct` is asked; by default the object kept RGB over transformed components.
 */
const MCT_TARGETS: ReadonlySet<string> = new Set([
  "1.2.840.10008.1.2.4.90",
  "1.2.840.10008.1.2.4.91",
  "1.2.840.10008.1.2.4.201",
  "1.2.840.10008.1.2.4.202",
  "1.2.840.10008.1.2.4.203",
]);

/**
 * Runs `work` on the codecs; when it fails, the next call starts a fresh WebAssembly instance: a codec
 * that fails may leave its memory corrupt (a JPEG 2000 frame that does not decode, asked twice, made every
 * later decode of any frame fail with "memory access out of bounds" until the worker was stopped).
 */
function guarded<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    NativeCodecs.release();
    ready = undefined;
    throw err;
  }
}

/** Transcodes a Part 10 object; throws with the codec's reason when it cannot. */
export async function transcodePart10(part10: Uint8Array, to: string): Promise<Uint8Array> {
  await initialize();
  const buffer = part10.byteOffset === 0 && part10.byteLength === part10.buffer.byteLength
    ? part10.buffer
    : part10.slice().buffer;
  let transcoder = guarded(() => new Transcoder(buffer));
  const from: string = transcoder.getTransferSyntaxUid();
  const before = transcoder.getElements();
  const sopInstanceUid = before.SOPInstanceUID;
  // JPEG is decoded here: colour JPEG's markers decide whether it is YCbCr (the library's decoder takes
  // an RGB label's word for it), and the library reads neither JPEG Extended nor JPEG Lossless (Process
  // 14). So are frames that span fragments, which the library cannot split.
  const decodeFirst = JPEG.has(from);
  if (decodeFirst) transcoder = await nativeTranscoder(part10, from, before);
  if (decodeFirst && to === EXPLICIT_LE) return finish(transcoder, sopInstanceUid);
  try {
    return transcodeWith(transcoder, to, sopInstanceUid);
  } catch (err) {
    if (decodeFirst || !canDecodeFrames(from) || !/fragments per frame/i.test((err as Error).message)) {
      throw err;
    }
    transcoder = await nativeTranscoder(part10, from, before);
    return to === EXPLICIT_LE
      ? finish(transcoder, sopInstanceUid)
      : transcodeWith(transcoder, to, sopInstanceUid);
  }
}

const EXPLICIT_LE = "1.2.840.10008.1.2.1";
/** The syntaxes whose Pixel Data is native (not encapsulated): Implicit, Explicit Little and Big Endian. */
const NATIVE: ReadonlySet<string> = new Set(["1.2.840.10008.1.2", EXPLICIT_LE, "1.2.840.10008.1.2.2"]);

/** Transcodes what `transcoder` holds to `to`, labels fixed (below). */
// deno-lint-ignore no-explicit-any
function transcodeWith(transcoder: any, to: string, sopInstanceUid: unknown): Uint8Array {
  return guarded(() => {
    const photometric = transcoder.getElements().PhotometricInterpretation;
    const parameters: Record<string, unknown> = {};
    if (MCT_TARGETS.has(to)) parameters.allowMct = true;
    // The lossy JPEG encoder takes YBR_FULL pixels for RGB (and converts them to YCbCr once more)
    // unless told to convert them to RGB first, as it does YBR_FULL_422.
    if (LOSSY_JPEG.has(to) && photometric === "YBR_FULL") parameters.convertYbrFullToRgb = true;
    transcoder.transcode(to, Object.keys(parameters).length ? parameters : undefined);
    const elements = transcoder.getElements();
    // The JPEG-LS encoder turns YBR_FULL and YBR_FULL_422 pixels into RGB but keeps their label.
    if (
      JPEG_LS.has(to) && YBR.has(String(photometric)) && elements.PhotometricInterpretation === photometric
    ) {
      elements.PhotometricInterpretation = "RGB";
    }
    labelJpegColour(elements, to);
    // dcmjs-codecs (0.0.8) labels encoded Pixel Data OW when its samples are 16-bit; encapsulated Pixel Data
    // is OB (PS3.5 A.4), which DCMTK warns about otherwise (until 2026-12-07 every transcode of a 16-bit
    // object to a compressed syntax went out OW).
    if (!NATIVE.has(to)) elements._vrMap = { ...elements._vrMap, PixelData: "OB" };
    return finish(transcoder, sopInstanceUid);
  });
}

/**
 * The Part 10 bytes of what `transcoder` holds. Lossy targets get a new SOP Instance UID from the
 * library: the object asked for keeps its own (Lossy Image Compression says what happened to its pixels).
 */
// deno-lint-ignore no-explicit-any
function finish(transcoder: any, sopInstanceUid: unknown): Uint8Array {
  return guarded(() => {
    if (sopInstanceUid) transcoder.getElements().SOPInstanceUID = sopInstanceUid;
    return new Uint8Array(transcoder.getDicomPart10() as ArrayBuffer);
  });
}

/**
 * A transcoder holding the object in `part10` (stored in `from`, its elements `elements`) as Explicit VR
 * Little Endian, every frame decoded by `decodeFrame` (frames found as part10/frames.ts finds them).
 */
async function nativeTranscoder(part10: Uint8Array, from: string, elements: Record<string, unknown>) {
  const layout = await frameLayout(memorySource(part10), "all");
  const description: PixelDescription = {
    rows: Number(elements.Rows),
    columns: Number(elements.Columns),
    bitsAllocated: Number(elements.BitsAllocated),
    bitsStored: Number(elements.BitsStored ?? elements.BitsAllocated),
    highBit: Number(elements.HighBit ?? Number(elements.BitsStored ?? elements.BitsAllocated) - 1),
    samplesPerPixel: Number(elements.SamplesPerPixel ?? 1),
    pixelRepresentation: Number(elements.PixelRepresentation ?? 0),
    planarConfiguration: Number(elements.PlanarConfiguration ?? 0),
    photometricInterpretation: String(elements.PhotometricInterpretation ?? "MONOCHROME2"),
  };
  const frames: Uint8Array[] = [];
  let decoded = description;
  for (const frame of layout.frames) {
    const bytes = new Uint8Array(frame.size);
    let at = 0;
    for (const p of frame.pieces) {
      bytes.set(part10.subarray(p.offset, p.offset + p.length), at);
      at += p.length;
    }
    const out = await decodeFrame(bytes, from, description);
    frames.push(out.pixels);
    decoded = out.description;
  }
  const pixels = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  let at = 0;
  for (const f of frames) {
    pixels.set(f, at);
    at += f.byteLength;
  }
  const native: Record<string, unknown> = {
    ...elements,
    Rows: decoded.rows,
    Columns: decoded.columns,
    BitsAllocated: decoded.bitsAllocated,
    BitsStored: decoded.bitsStored,
    HighBit: decoded.highBit,
    SamplesPerPixel: decoded.samplesPerPixel,
    PixelRepresentation: decoded.pixelRepresentation,
    PlanarConfiguration: decoded.samplesPerPixel > 1 ? decoded.planarConfiguration : undefined,
    PhotometricInterpretation: decoded.photometricInterpretation,
    PixelData: [pixels.buffer],
  };
  if (native.PlanarConfiguration === undefined) delete native.PlanarConfiguration;
  return guarded(() => new Transcoder(native, EXPLICIT_LE));
}

const JPEG_LS: ReadonlySet<string> = new Set(["1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"]);
const YBR: ReadonlySet<string> = new Set(["YBR_FULL", "YBR_FULL_422"]);

/** The lossy JPEG syntaxes, whose encoder stores colour as YCbCr. */
const LOSSY_JPEG: ReadonlySet<string> = new Set(["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"]);

/**
 * Colour encoded as lossy JPEG is YCbCr (a JFIF stream), which the library leaves labelled RGB: it is
 * labelled YBR_FULL_422 when its chroma is subsampled, else YBR_FULL (PS3.5 8.2.1), so that decoders
 * that follow the Photometric Interpretation (DCMTK's) convert it back.
 */
function labelJpegColour(elements: Record<string, unknown>, to: string): void {
  if (!LOSSY_JPEG.has(to) || Number(elements.SamplesPerPixel) !== 3) return;
  if (elements.PhotometricInterpretation !== "RGB") return;
  const data = elements.PixelData as (ArrayBuffer | Uint8Array)[] | undefined;
  const first = data?.[0];
  if (!first) return;
  const bytes = first instanceof Uint8Array ? first : new Uint8Array(first);
  if (!jpegIsYcbcr(bytes, "YBR_FULL")) return;
  elements.PhotometricInterpretation = jpegSubsampled(bytes) ? "YBR_FULL_422" : "YBR_FULL";
}

/** What a frame's pixels are, as the Image Pixel module says (and as decoding changes it). */
export interface PixelDescription {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  samplesPerPixel: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometricInterpretation: string;
}

/**
 * Whether a three-component JPEG holds YCbCr. The stream's own markers win: an Adobe APP14 marker's
 * transform flag, a JFIF APP0 marker (always YCbCr), component identifiers "R", "G", "B". Without
 * them the Photometric Interpretation decides, except that RGB with subsampled components is taken for
 * the YCbCr it must be (files labelled RGB over YCbCr data exist, e.g. pydicom's
 * SC_rgb_jpeg_lossy_gdcm.dcm).
 */
function jpegIsYcbcr(jpeg: Uint8Array, photometric: string): boolean {
  const { jfif, adobe, ids, sampling } = jpegMarkers(jpeg);
  if (adobe !== undefined) return adobe !== 0;
  if (jfif) return true;
  if (ids.join() === "82,71,66") return false;
  if (photometric === "RGB") return sampling.some((s) => s !== sampling[0]);
  return photometric.startsWith("YBR");
}

/** Whether a JPEG's components are sampled differently (its chroma subsampled). */
function jpegSubsampled(jpeg: Uint8Array): boolean {
  const { sampling } = jpegMarkers(jpeg);
  return sampling.some((s) => s !== sampling[0]);
}

/** What a JPEG stream's markers before its first scan say of its colour. */
function jpegMarkers(jpeg: Uint8Array) {
  let jfif = false, adobe: number | undefined, ids: number[] = [], sampling: number[] = [];
  for (let i = 2; i + 4 <= jpeg.length && jpeg[i] === 0xff;) {
    const marker = jpeg[i + 1];
    const length = (jpeg[i + 2] << 8) | jpeg[i + 3];
    const at = i + 4;
    if (marker === 0xe0 && String.fromCharCode(...jpeg.subarray(at, at + 4)) === "JFIF") jfif = true;
    if (marker === 0xee && String.fromCharCode(...jpeg.subarray(at, at + 5)) === "Adobe") {
      adobe = jpeg[at + 11];
    }
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const n = jpeg[at + 5];
      ids = Array.from({ length: n }, (_, k) => jpeg[at + 6 + 3 * k]);
      sampling = Array.from({ length: n }, (_, k) => jpeg[at + 7 + 3 * k]);
    }
    if (marker === 0xda) break;
    i += 2 + length;
  }
  return { jfif, adobe, ids, sampling };
}

/**
 * Decodes one compressed frame (its fragments joined) into native little endian pixels. The description
 * that comes back is the decoded one: JPEG colour comes out RGB, JPEG 2000's YBR_RCT and YBR_ICT too.
 */
export async function decodeFrame(
  encoded: Uint8Array,
  transferSyntax: string,
  d: PixelDescription,
): Promise<{ pixels: Uint8Array; description: PixelDescription }> {
  await initialize();
  const elements: Record<string, unknown> = {
    Rows: d.rows,
    Columns: d.columns,
    BitsAllocated: d.bitsAllocated,
    BitsStored: d.bitsStored,
    HighBit: d.highBit,
    SamplesPerPixel: d.samplesPerPixel,
    PixelRepresentation: d.pixelRepresentation,
    PlanarConfiguration: d.planarConfiguration,
    PhotometricInterpretation: d.photometricInterpretation,
    NumberOfFrames: 1,
  };
  const frame = encoded.slice().buffer;
  const out = guarded((): Record<string, unknown> => {
    if (JPEG.has(transferSyntax)) {
      const context = lib.Context.fromDicomElements(elements);
      context.setEncodedBuffer(new Uint8Array(frame));
      const ycbcr = d.samplesPerPixel === 3 && jpegIsYcbcr(encoded, d.photometricInterpretation);
      const decoded = NativeCodecs.decodeJpeg(context, { convertColorspaceToRgb: ycbcr });
      const jpegOut = { ...decoded.toDicomElements(), PixelData: [decoded.getDecodedBuffer()] };
      // Colour comes out interleaved RGB, converted or not.
      if (d.samplesPerPixel === 3) {
        Object.assign(jpegOut, { PhotometricInterpretation: "RGB", PlanarConfiguration: 0 });
      }
      return jpegOut;
    }
    const name = FRAME_CODECS[transferSyntax];
    if (!name) throw new Error(`no decoder for transfer syntax ${transferSyntax}`);
    return new lib.codecs[name]().decode({ ...elements, PixelData: [frame] }, transferSyntax, {});
  });
  const data = (out.PixelData as (ArrayBuffer | Uint8Array)[])[0];
  const pixels = data instanceof Uint8Array ? data : new Uint8Array(data);
  return {
    pixels,
    description: {
      rows: Number(out.Rows ?? d.rows),
      columns: Number(out.Columns ?? d.columns),
      bitsAllocated: Number(out.BitsAllocated ?? d.bitsAllocated),
      bitsStored: Number(out.BitsStored ?? d.bitsStored),
      highBit: Number(out.BitsStored ?? d.bitsStored) - 1,
      samplesPerPixel: Number(out.SamplesPerPixel ?? d.samplesPerPixel),
      pixelRepresentation: Number(out.PixelRepresentation ?? d.pixelRepresentation),
      planarConfiguration: Number(out.PlanarConfiguration ?? 0),
      photometricInterpretation: String(out.PhotometricInterpretation ?? d.photometricInterpretation),
    },
  };
}
