/**
 * Reading one frame of an archived object to render it, on the agent's thread where the archive is: its
 * attributes and its pixel bytes as stored (encoded, or native little endian), or a deflated object whole. Only the
 * frame's bytes are read (part10/frames.ts finds them). The rendering worker decodes them (source.ts).
 */
import { encodingOf } from "@conduit/shared/dicom";
import { readHeader } from "../part10/header.ts";
import { frameLayout, isNativeSyntax } from "../part10/frames.ts";
import { type ByteSource, readExactly, ShortSourceError } from "../part10/source.ts";
import { littleEndianFrames } from "../part10/swapped.ts";
import { type ImageAttributes, imageAttributes } from "./attributes.ts";
import { FrameNotFoundError, RenderError } from "./errors.ts";

/** The largest deflated object rendered (it is inflated whole in memory). */
const MAX_DEFLATED_BYTES = 256 * 1024 * 1024;

/** What the rendering worker gets: one frame's bytes as stored, or a deflated object whole. */
export type FrameBytes =
  | {
    kind: "frame";
    attrs: ImageAttributes;
    /** The frame's bytes: native samples (little endian: a big endian object's swapped), or one encoded frame. */
    bytes: Uint8Array;
    encapsulated: boolean;
    transferSyntax: string;
  }
  | { kind: "deflated"; object: Uint8Array; frame: number };

export function frameCheck(attrs: ImageAttributes, frame: number) {
  if (frame < 1 || frame > attrs.numberOfFrames) {
    throw new FrameNotFoundError(`frame ${frame} does not exist (the instance has ${attrs.numberOfFrames})`);
  }
}

export function frameSize(a: ImageAttributes): number {
  if (a.bitsAllocated === 1) return Math.ceil((a.rows * a.columns) / 8);
  const samples = a.photometric === "YBR_FULL_422" && a.samplesPerPixel === 3 ? 2 : a.samplesPerPixel;
  return a.rows * a.columns * samples * (a.bitsAllocated / 8);
}

/**
 * Reads what frame `frame` (1-based) of the object in `source` needs to be rendered. `check` is asked of
 * the frame's attributes before its bytes are read (and may throw to refuse it unread).
 */
export async function readFrame(
  source: ByteSource,
  frame: number,
  check: (a: ImageAttributes) => void = () => {},
): Promise<FrameBytes> {
  const file = await readHeader(source);
  const ts = file.header.transferSyntax;
  const encoding = encodingOf(ts);
  if (encoding.deflated) {
    if (source.size > MAX_DEFLATED_BYTES) {
      throw new RenderError(`a deflated object of ${source.size} bytes is too large`);
    }
    return { kind: "deflated", object: await readExactly(source, 0, source.size), frame };
  }
  const attrs = imageAttributes(file.bytes, file.dataset, encoding.littleEndian, frame);
  frameCheck(attrs, frame);
  check(attrs);
  let layout;
  try {
    layout = await frameLayout(source, [frame]);
  } catch (err) {
    if (/no pixel data/.test((err as Error).message)) throw new FrameNotFoundError((err as Error).message);
    throw new RenderError((err as Error).message);
  }
  if (!layout.encapsulated && !isNativeSyntax(ts)) {
    // A private or unknown syntax: its pixel data may be encoded any way, so it is not read as samples.
    throw new RenderError(`frames in transfer syntax ${ts} cannot be decoded here`);
  }
  const pieces = layout.frames[0].pieces;
  // Native frames of a big endian object are read little endian, swapped as every path swaps them.
  const from = littleEndianFrames(source, layout);
  const bytes = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    const piece = await readExactly(from, p.offset, p.length).catch((err) => {
      throw err instanceof ShortSourceError ? new RenderError("the file ends inside its pixel data") : err;
    });
    bytes.set(piece, at);
    at += p.length;
  }
  return {
    kind: "frame",
    attrs,
    bytes,
    encapsulated: layout.encapsulated,
    transferSyntax: ts,
  };
}
