/**
 * One frame ready to render, from what `read.ts` read: native samples as they are, a compressed frame
 * decoded by dcmjs-codecs (agent/transcode/codec.ts), a deflated object inflated whole. This runs in the
 * rendering worker.
 */
import { inflateRawSync } from "node:zlib";
import {
  encodingOf,
  findElement,
  parseDataSet,
  PIXEL_DATA,
  readPart10Header,
  TransferSyntax,
} from "@conduit/shared/dicom";
import { decodeFrame as decodeCompressed } from "../transcode/codec.ts";
import { canDecodeFrames } from "../transcode/syntaxes.ts";
import { type ImageAttributes, imageAttributes } from "./attributes.ts";
import { FrameNotFoundError, RenderError } from "./errors.ts";
import { type FrameBytes, frameCheck, frameSize } from "./read.ts";

export interface SourceFrame {
  attrs: ImageAttributes;
  pixels: Uint8Array;
  /** Byte order of the pixels' 16- and 32-bit words. */
  littleEndian: boolean;
}

/** A deflated object's data set, inflated and parsed whole. */
function inflated(file: Uint8Array) {
  const header = readPart10Header(file);
  const bytes = new Uint8Array(inflateRawSync(file.subarray(header.datasetOffset)));
  const { dataset } = parseDataSet(bytes, encodingOf(TransferSyntax.ExplicitVRLittleEndian));
  return { bytes, dataset };
}

/** Frame `frame` of an inflated data set (its pixel data is native, little endian). */
function deflatedFrame({ bytes, dataset }: ReturnType<typeof inflated>, frame: number): SourceFrame {
  const attrs = imageAttributes(bytes, dataset, true, frame);
  frameCheck(attrs, frame);
  const pixels = findElement(dataset, PIXEL_DATA) ?? findElement(dataset, 0x7fe00008) ??
    findElement(dataset, 0x7fe00009);
  if (!pixels || pixels.length < 0) throw new FrameNotFoundError("the instance has no pixel data");
  if (attrs.bitsAllocated === 1 && attrs.numberOfFrames > 1 && (attrs.rows * attrs.columns) % 8 !== 0) {
    throw new RenderError(
      "1-bit multi-frame pixel data whose frames do not start on a byte is not cut into frames",
    );
  }
  const n = frameSize(attrs);
  const start = pixels.valueOffset + (frame - 1) * n;
  if (start + n > pixels.valueOffset + pixels.length) throw new RenderError("the pixel data is too short");
  return { attrs, pixels: bytes.subarray(start, start + n), littleEndian: true };
}

/** The frame's pixels, decoded when they are compressed (in the rendering worker). */
export async function decodeFrame(input: FrameBytes): Promise<SourceFrame> {
  if (input.kind === "deflated") return deflatedFrame(inflated(input.object), input.frame);
  const { attrs, transferSyntax: ts } = input;
  if (!input.encapsulated) return { attrs, pixels: input.bytes, littleEndian: true };
  if (!canDecodeFrames(ts)) throw new RenderError(`frames in transfer syntax ${ts} cannot be decoded here`);
  const decoded = await decodeCompressed(input.bytes, ts, {
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

/**
 * Frames as native little endian pixels, each in its own buffer: the one frame of `input` decoded, or
 * frames `frames` of a deflated object (inflated once). For WADO-RS frames the site cannot transcode.
 */
export async function decodeFrames(input: FrameBytes, frames: number[]): Promise<Uint8Array[]> {
  if (input.kind === "deflated") {
    const data = inflated(input.object);
    return frames.map((f) => deflatedFrame(data, f).pixels.slice());
  }
  return [(await decodeFrame(input)).pixels.slice()];
}
