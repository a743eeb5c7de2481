/**
 * Transcoding archived objects to another transfer syntax, for WADO-RS clients that ask for one
 * (PS3.18 8.7.3). The work runs in one worker (worker_client.ts) so that decoding a large multi-frame
 * object never stalls the event loop the tunnel's heartbeats ride on; requests queue there one at a
 * time, and objects are read for it two at a time (the one transcoded and the next), however many
 * requests ask at once. An object over `MAX_TRANSCODE_BYTES`, stored or decoded, is refused: the whole
 * object is held in memory while it is transcoded, and its pixels decoded.
 */
import { encodingOf, findElement, numberValues, stringValue, TransferSyntax } from "@conduit/shared/dicom";
import { WorkerClient } from "./worker_client.ts";
import { type ByteSource, readExactly } from "../part10/source.ts";
import { readHeader } from "../part10/header.ts";
import { Slots } from "../slots.ts";
import { workerUrl } from "../worker_url.ts";
import { loadPart } from "../lazy_part.ts";

/**
 * The syntaxes dcmjs-codecs reads and writes (its README), and JPEG Extended and JPEG Lossless, which
 * codec.ts decodes itself (as targets the library refuses them, with its reason); deflate and video are
 * not among them.
 */
const TRANSCODABLE: ReadonlySet<string> = new Set([
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.Rle,
  TransferSyntax.JpegBaseline,
  TransferSyntax.JpegExtended,
  TransferSyntax.JpegLossless,
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLsLossless,
  TransferSyntax.JpegLsNearLossless,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Jpeg2000,
  TransferSyntax.HtJpeg2000Lossless,
  TransferSyntax.HtJpeg2000LosslessRpcl,
  TransferSyntax.HtJpeg2000,
]);

/** The largest object transcoded (its Part 10 size, and the size of its pixel data decoded). */
const MAX_TRANSCODE_BYTES = 256 * 1024 * 1024;

/** Objects read for the worker at once, across every request: the one it works on and the next. */
const readAhead = new Slots(2);

export class TranscodeError extends Error {
  override name = "TranscodeError";
}

/** True when dcmjs-codecs can turn `from` into `to`. */
export function canTranscode(from: string, to: string): boolean {
  return from !== to && TRANSCODABLE.has(from) && TRANSCODABLE.has(to);
}

const shared = new WorkerClient<{ bytes: Uint8Array; to: string }, Uint8Array>(
  workerUrl("transcode"),
  {
    // Loaded only here (and in the worker), not with the agent.
    inThread: ({ bytes, to }) =>
      loadPart("transcode/codec").then(({ transcodePart10 }) => transcodePart10(bytes, to)),
    error: (message) => new TranscodeError(message),
    transfer: ({ bytes }) => [bytes.buffer as ArrayBuffer],
  },
);

/**
 * The Part 10 object in `source` (stored in syntax `from`) transcoded to `to`, as a Part 10 object in
 * memory. Throws TranscodeError when the syntaxes are not supported, the object is too large, or the codec
 * fails (lossy targets refuse data they cannot hold, e.g. JPEG baseline and 16-bit pixels).
 */
export async function transcodeObject(source: ByteSource, from: string, to: string): Promise<Uint8Array> {
  if (!canTranscode(from, to)) throw new TranscodeError(`cannot transcode ${from} to ${to}`);
  const size = source.size;
  if (size > MAX_TRANSCODE_BYTES) {
    throw new TranscodeError(
      `the object (${size} bytes) is larger than the ${MAX_TRANSCODE_BYTES} transcoded`,
    );
  }
  // A compressed object decodes to what its header says, whatever its own size (a 100 MB RLE object of
  // 8000 × 8000 × 4 frames decodes to 512 MB, and took the agent to 4 GB).
  const decoded = await decodedPixelBytes(source);
  if (decoded > MAX_TRANSCODE_BYTES) {
    throw new TranscodeError(
      `the object's pixel data decodes to ${decoded} bytes, more than the ${MAX_TRANSCODE_BYTES} transcoded`,
    );
  }
  return await readAhead.run(async () =>
    await shared.call({ bytes: await readExactly(source, 0, size), to })
  );
}

/** Rows × Columns × Number of Frames × Samples per Pixel × Bits Allocated / 8 of the object's header (0 without them). */
async function decodedPixelBytes(source: ByteSource): Promise<number> {
  const file = await readHeader(source);
  const { littleEndian } = encodingOf(file.header.transferSyntax);
  const num = (tag: number) => {
    const el = findElement(file.dataset, tag);
    return el ? numberValues(file.bytes, el, littleEndian)[0] ?? 0 : 0;
  };
  const framesEl = findElement(file.dataset, 0x00280008);
  const frames = framesEl ? Number(stringValue(file.bytes, framesEl)) || 1 : 1;
  return num(0x00280010) * num(0x00280011) * Math.max(1, num(0x00280002)) * frames * num(0x00280100) / 8;
}
