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
import { canDecodeFrames, decodeFrame as decodeCompressed } from "../transcode/codec.ts";
import { type ImageAttributes, imageAttributes } from "./attributes.ts";
import { FrameNotFoundError, RenderError } from "./errors.ts";
import { type FrameBytes, frameCheck, frameSize } from "./read.ts";

export interface SourceFrame {
  attrs: ImageAttributes;
  pixels: Uint8Array;
  /** Byte order of the pixels' 16- and 32-bit words. */
  littleEndian: boolean;
}

/** A frame of a deflated object: the data set inflated and parsed whole. */
function deflatedFrame(file: Uint8Array, frame: number): SourceFrame {
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

/** The frame's pixels, decoded when they are compressed (in the rendering worker). */
export async function decodeFrame(input: FrameBytes): Promise<SourceFrame> {
  if (input.kind === "deflated") return deflatedFrame(input.object, input.frame);
  const { attrs, transferSyntax: ts } = input;
  if (!input.encapsulated) return { attrs, pixels: input.bytes, littleEndian: input.littleEndian };
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
