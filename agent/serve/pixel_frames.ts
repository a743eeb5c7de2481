/**
 * Pixel frames of an archived instance for WADO-RS `/frames`: each frame's bytes as stored, or, when the
 * client takes only other syntaxes, from the object transcoded in memory to the first it can be.
 */
import { sendRanges } from "@conduit/shared/tunnel";
import { withObject } from "../archive/archive.ts";
import { frameLayout } from "../part10/frames.ts";
import { type ByteSource, memorySource } from "../part10/source.ts";
import { canTranscode, TranscodeError, transcodeObject } from "../transcode/mod.ts";
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
 * its stored syntax is not among them; undefined to serve it as stored (the hub then answers 406 if the
 * client cannot take that).
 */
async function transcodedCopy(
  stored: ByteSource,
  syntax: string,
  syntaxes?: string[],
): Promise<Uint8Array | undefined> {
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

export const pixelFrameHandlers: Handlers = { frames };
