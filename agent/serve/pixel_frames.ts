/**
 * Pixel frames of an archived instance for WADO-RS `/frames`: each frame's bytes as stored, or, when the
 * client takes only other syntaxes, from the object transcoded in memory to the first it can be. Frames
 * the transcoder cannot turn native (JPEG Extended and JPEG Lossless, whose whole-object transcoding
 * dcmjs-codecs lacks) are decoded one by one as for rendering, when the client takes native frames; so
 * are the frames of deflated objects (native pixels inside the deflate stream), served as Explicit VR
 * Little Endian frames.
 */
import { encodingOf, TransferSyntax } from "@conduit/shared/dicom";
import { sendRanges } from "@conduit/shared/tunnel";
import { withObject } from "../archive/archive.ts";
import { frameLayout } from "../part10/frames.ts";
import { type ByteSource, memorySource } from "../part10/source.ts";
import { canTranscode, TranscodeError, transcodeObject } from "../transcode/mod.ts";
import { canDecodeFrames } from "../transcode/syntaxes.ts";
import { decodedFrames } from "../render/mod.ts";
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
    const transcoded = await transcodedCopy(stored, file.transferSyntax, request.transferSyntaxes);
    const native = transcoded ? undefined : decodedSyntax(file.transferSyntax, request.transferSyntaxes);
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
    const layout = await frameLayout(source, request.frames);
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
 * its stored syntax is not among them (big endian objects also when any syntax will do); undefined to
 * serve it as stored (the hub then answers 406 if the client cannot take that).
 */
async function transcodedCopy(
  stored: ByteSource,
  syntax: string,
  syntaxes?: string[],
): Promise<Uint8Array | undefined> {
  // Big endian frames go little endian unless asked for by name: a client taking frames as stored gets
  // them as application/octet-stream, which is little endian.
  if (!syntaxes && syntax === TransferSyntax.ExplicitVRBigEndian) {
    syntaxes = [TransferSyntax.ExplicitVRLittleEndian];
  }
  if (!syntaxes || syntaxes.includes(syntax)) return undefined;
  for (const to of syntaxes.filter((ts) => canTranscode(syntax, ts))) {
    try {
      return await transcodeObject(stored, syntax, to);
    } catch (err) {
      if (!(err instanceof TranscodeError)) throw err;
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
 * The syntax to decode frames into here, or undefined to serve them as stored (or transcoded): frames of a
 * deflated object always (the hub answers 406 if the client takes no native syntax); compressed frames
 * the client does not take as stored and that the decoder reads, when it takes them native.
 */
function decodedSyntax(stored: string, syntaxes?: string[]): string | undefined {
  if (encodingOf(stored).deflated) return syntaxes?.find((ts) => NATIVE.includes(ts)) ?? NATIVE[0];
  if (!syntaxes || syntaxes.includes(stored) || !canDecodeFrames(stored)) return undefined;
  return syntaxes.find((ts) => NATIVE.includes(ts));
}

export const pixelFrameHandlers: Handlers = { frames };
