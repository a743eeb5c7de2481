/**
 * Pixel frames of an archived instance for WADO-RS `/frames`: each frame's bytes as stored, or, when the
 * client takes only other syntaxes, from the object transcoded in memory to the first it can be (only the
 * frames asked, when they are not all of a many-frame object: part10/frame_subset.ts). Native
 * frames of a compressed object are decoded one by one as for rendering (only the frames asked, not the
 * whole object), when the client prefers them or no transcoding works; so are the frames of deflated
 * objects (native pixels inside the deflate stream), served as Explicit VR Little Endian frames.
 */
import { encodingOf, TransferSyntax } from "@conduit/shared/dicom";
import { sendRanges } from "@conduit/shared/tunnel";
import { withObject } from "../archive/archive.ts";
import { checkPixelData, frameLayout } from "../part10/frames.ts";
import { frameSubset } from "../part10/frame_subset.ts";
import { type ByteSource, memorySource } from "../part10/source.ts";
import { littleEndianFrames } from "../part10/swapped.ts";
import { canTranscode, TranscodeError, transcodeObject } from "../transcode/mod.ts";
import { canDecodeFrames } from "../transcode/syntaxes.ts";
import { decodedFrames, RenderError } from "../render/mod.ts";
import type { Handlers, Replies, RequestOf } from "./reply.ts";
import type { SiteServices } from "./services.ts";
import { archivedFile } from "./wado.ts";

async function frames(
  s: SiteServices,
  request: RequestOf<"frames">,
  channel: Replies<"frames">,
  signal: AbortSignal,
) {
  const file = await archivedFile(s, request, signal);
  await withObject(s.files, file.key, async (stored) => {
    // Pixel data that contradicts its header is refused (404 with the reason) before any path reads,
    // decodes or transcodes it: no path could give frames that are what the header says.
    await checkPixelData(stored);
    const wanted = request.transferSyntaxes;
    const littleEndian = swappedSyntax(file.transferSyntax, wanted);
    if (littleEndian) return await sendSwapped(stored, request.frames, littleEndian, channel);
    // Native frames of a compressed object are decoded one by one (only those asked) when the client
    // prefers them; the whole object is transcoded only for a compressed syntax it prefers.
    let native = preferredDecoding(file.transferSyntax, wanted);
    const reasons: string[] = [];
    // Only the frames asked are transcoded (a viewer fetching a cine frame by frame does not pay for the
    // whole object each time, nor is a large object refused for its size).
    const subset = native || !wanted || wanted.includes(file.transferSyntax) ||
        !wanted.some((ts) => canTranscode(file.transferSyntax, ts))
      ? undefined
      : await frameSubset(stored, request.frames);
    const transcoded = native
      ? undefined
      : await transcodedCopy(subset ? memorySource(subset) : stored, file.transferSyntax, wanted, reasons);
    native ??= transcoded ? undefined : decodedSyntax(file.transferSyntax, wanted);
    if (!native && !transcoded && wanted && !wanted.includes(file.transferSyntax)) {
      // Said before any frame crosses the tunnel (the hub would only drop them), with the codec's reason.
      throw new RenderError(
        `frames are stored as ${file.transferSyntax} and cannot be transcoded to ${wanted.join(", ")}` +
          (reasons.length ? ` (${reasons.join("; ")})` : " (no codec here writes them)"),
      );
    }
    if (native) {
      // The first frame is decoded before the answer starts: a missing frame or one that does not
      // decode is then the request's error, not a broken body.
      const decoded = decodedFrames(stored, request.frames);
      let next = await decoded.next();
      await channel.send({ type: "frames", transferSyntax: native, encapsulated: false });
      for (; !next.done; next = await decoded.next()) {
        const pixels = next.value;
        await channel.send({ type: "bulk", size: pixels.byteLength });
        await sendRanges(channel, memorySource(pixels), [{ offset: 0, length: pixels.byteLength }]);
      }
      await channel.send({ type: "end", completed: request.frames.length });
      return;
    }
    const source = transcoded ? memorySource(transcoded) : stored;
    // A transcoded subset holds the frames asked, in the order asked.
    const asked = transcoded && subset ? request.frames.map((_, i) => i + 1) : request.frames;
    const layout = await frameLayout(source, asked);
    await channel.send({
      type: "frames",
      transferSyntax: layout.transferSyntax,
      encapsulated: layout.encapsulated,
    });
    for (const frame of layout.frames) {
      await channel.send({ type: "bulk", size: frame.size });
      await sendRanges(channel, source, frame.pieces);
    }
    await channel.send({ type: "end", completed: layout.frames.length });
  });
}

/**
 * The object in `stored` transcoded, in memory, to the first of `syntaxes` it can be transcoded to, when
 * its stored syntax is not among them; undefined to serve it as stored (the hub then answers 406 if the
 * client cannot take that).
 */
async function transcodedCopy(
  stored: ByteSource,
  syntax: string,
  syntaxes: string[] | undefined,
  reasons: string[],
): Promise<Uint8Array | undefined> {
  if (!syntaxes || syntaxes.includes(syntax)) return undefined;
  for (const to of syntaxes.filter((ts) => canTranscode(syntax, ts))) {
    try {
      return await transcodeObject(stored, syntax, to);
    } catch (err) {
      if (!(err instanceof TranscodeError)) throw err;
      reasons.push(`${to}: ${err.message}`);
    }
  }
  return undefined;
}

/** The native little endian syntaxes decoded frames can be labelled with (their pixel bytes are the same). */
const NATIVE: readonly string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];

/**
 * The little endian syntax a big endian object's frames go in: a client taking frames as stored gets
 * them as application/octet-stream, which is little endian; big endian only when it names it.
 */
function swappedSyntax(stored: string, syntaxes?: string[]): string | undefined {
  if (stored !== TransferSyntax.ExplicitVRBigEndian) return undefined;
  if (!syntaxes) return TransferSyntax.ExplicitVRLittleEndian;
  if (syntaxes.includes(stored)) return undefined;
  return syntaxes.find((ts) => NATIVE.includes(ts));
}

/** Frames of a big endian object made little endian (part10/swapped.ts: by the pixel value's VR), as `syntax`. */
async function sendSwapped(
  stored: ByteSource,
  frames: number[],
  syntax: string,
  channel: Replies<"frames">,
): Promise<void> {
  const layout = await frameLayout(stored, frames);
  const source = littleEndianFrames(stored, layout);
  await channel.send({ type: "frames", transferSyntax: syntax, encapsulated: false });
  for (const frame of layout.frames) {
    await channel.send({ type: "bulk", size: frame.size });
    await sendRanges(channel, source, frame.pieces);
  }
  await channel.send({ type: "end", completed: layout.frames.length });
}

/**
 * The native syntax to decode frames into, when the first syntax the client takes that the site can give
 * is native (and the frames can be decoded here); undefined when that is a compressed one (or none).
 */
function preferredDecoding(stored: string, syntaxes?: string[]): string | undefined {
  if (encodingOf(stored).deflated) return decodedSyntax(stored, syntaxes);
  if (!syntaxes || syntaxes.includes(stored) || !canDecodeFrames(stored)) return undefined;
  for (const ts of syntaxes) {
    if (NATIVE.includes(ts)) return ts;
    if (canTranscode(stored, ts)) return undefined;
  }
  return undefined;
}

/**
 * The syntax to decode frames into here, or undefined to serve them as stored (or transcoded): frames of a
 * deflated object whenever the client takes native frames; compressed frames
 * the client does not take as stored and that the decoder reads, when it takes them native.
 */
function decodedSyntax(stored: string, syntaxes?: string[]): string | undefined {
  if (encodingOf(stored).deflated) return syntaxes ? syntaxes.find((ts) => NATIVE.includes(ts)) : NATIVE[0];
  if (!syntaxes || syntaxes.includes(stored) || !canDecodeFrames(stored)) return undefined;
  return syntaxes.find((ts) => NATIVE.includes(ts));
}

export const pixelFrameHandlers: Handlers = { frames };
