/**
 * One frame of an archived file, ready to render: its attributes and its pixels, native or decoded.
 * Only the frame's bytes are read (frames.ts finds them), except for deflated objects, which are
 * inflated whole. Compressed frames are decoded by dcmjs-codecs (agent/transcode/codec.ts); this runs in
 * the rendering worker.
 */
import { inflateRawSync } from "node:zlib";
import { findElement, parseDataSet, PIXEL_DATA, readPart10Header } from "@conduit/shared/dicom/reader.ts";
import { encodingOf, TransferSyntax } from "@conduit/shared/dicom/uids.ts";
import { readFileHeader } from "../archive/header_file.ts";
import { frameLayout } from "../tunnel/frames.ts";
import { canDecodeFrames, decodeFrame } from "../transcode/codec.ts";
import { type ImageAttributes, imageAttributes } from "./attributes.ts";
import { FrameNotFoundError, RenderError } from "./errors.ts";

/** The largest deflated object rendered (it is inflated whole in memory). */
const MAX_DEFLATED_BYTES = 256 * 1024 * 1024;

export interface SourceFrame {
  attrs: ImageAttributes;
  pixels: Uint8Array;
  /** Byte order of the pixels' 16- and 32-bit words. */
  littleEndian: boolean;
}

async function readPieces(path: string, pieces: { offset: number; length: number }[]): Promise<Uint8Array> {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  const file = await Deno.open(path, { read: true });
  try {
    let at = 0;
    for (const p of pieces) {
      await file.seek(p.offset, Deno.SeekMode.Start);
      for (let got = 0; got < p.length;) {
        const n = await file.read(out.subarray(at + got, at + p.length));
        if (n === null) throw new RenderError("the file ends inside its pixel data");
        got += n;
      }
      at += p.length;
    }
  } finally {
    file.close();
  }
  return out;
}

function frameCheck(attrs: ImageAttributes, frame: number) {
  if (frame < 1 || frame > attrs.numberOfFrames) {
    throw new FrameNotFoundError(`frame ${frame} does not exist (the instance has ${attrs.numberOfFrames})`);
  }
}

function frameSize(a: ImageAttributes): number {
  if (a.bitsAllocated === 1) return Math.ceil((a.rows * a.columns) / 8);
  const samples = a.photometric === "YBR_FULL_422" && a.samplesPerPixel === 3 ? 2 : a.samplesPerPixel;
  return a.rows * a.columns * samples * (a.bitsAllocated / 8);
}

/** A frame of a deflated object: the data set inflated and parsed whole. */
async function deflatedFrame(path: string, frame: number): Promise<SourceFrame> {
  const { size } = await Deno.stat(path);
  if (size > MAX_DEFLATED_BYTES) throw new RenderError(`a deflated object of ${size} bytes is too large`);
  const file = await Deno.readFile(path);
  const header = readPart10Header(file);
  const bytes = new Uint8Array(inflateRawSync(file.subarray(header.datasetOffset)));
  const encoding = encodingOf(TransferSyntax.ExplicitVRLittleEndian);
  const { dataset } = parseDataSet(bytes, encoding);
  const attrs = imageAttributes(bytes, dataset, true, frame);
  frameCheck(attrs, frame);
  const pixels = findElement(dataset, PIXEL_DATA);
  if (!pixels || pixels.length < 0) throw new FrameNotFoundError("the instance has no pixel data");
  const n = frameSize(attrs);
  const start = pixels.valueOffset + (frame - 1) * n;
  if (start + n > pixels.valueOffset + pixels.length) throw new RenderError("the pixel data is too short");
  return { attrs, pixels: bytes.subarray(start, start + n), littleEndian: true };
}

/** Frame `frame` (1-based) of the Part 10 file at `path`. */
export async function readSourceFrame(path: string, frame: number): Promise<SourceFrame> {
  const file = await readFileHeader(path);
  const ts = file.header.transferSyntax;
  const encoding = encodingOf(ts);
  if (encoding.deflated) return await deflatedFrame(path, frame);
  const attrs = imageAttributes(file.bytes, file.dataset, encoding.littleEndian, frame);
  frameCheck(attrs, frame);
  let layout;
  try {
    layout = await frameLayout(path, [frame]);
  } catch (err) {
    if (/no pixel data/.test((err as Error).message)) throw new FrameNotFoundError((err as Error).message);
    throw new RenderError((err as Error).message);
  }
  const bytes = await readPieces(path, layout.frames[0].pieces);
  if (!layout.encapsulated) return { attrs, pixels: bytes, littleEndian: encoding.littleEndian };
  if (!canDecodeFrames(ts)) throw new RenderError(`frames in transfer syntax ${ts} cannot be decoded here`);
  const decoded = await decodeFrame(bytes, ts, {
    rows: attrs.rows,
    columns: attrs.columns,
    bitsAllocated: attrs.bitsAllocated,
    bitsStored: attrs.bitsStored,
    highBit: attrs.highBit,
    samplesPerPixel: attrs.samplesPerPixel,
    pixelRepresentation: attrs.pixelRepresentation,
    planarConfiguration: attrs.planarConfiguration,
    photometricInterpretation: attrs.photometric,
  }).catch((err) => {
    throw new RenderError(`the frame does not decode: ${(err as Error).message}`);
  });
  const d = decoded.description;
  return {
    attrs: {
      ...attrs,
      rows: d.rows,
      columns: d.columns,
      bitsAllocated: d.bitsAllocated,
      bitsStored: d.bitsStored,
      highBit: d.highBit,
      samplesPerPixel: d.samplesPerPixel,
      pixelRepresentation: d.pixelRepresentation,
      planarConfiguration: d.planarConfiguration,
      photometric: d.photometricInterpretation.toUpperCase(),
    },
    pixels: decoded.pixels,
    littleEndian: true,
  };
}
