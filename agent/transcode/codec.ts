/**
 * Pixel transcoding with dcmjs-codecs (its WebAssembly build of libjpeg, CharLS, OpenJPEG and
 * others): a whole Part 10 object in, the same object in another transfer syntax out. The data set
 * is decoded and written again by dcmjs, so unlike every other path in the agent the output is not
 * byte-preserving: only asked-for transcodes come here. Runs in the transcoding worker (worker.ts),
 * or in the calling thread where no worker can be started.
 */
import codecs from "dcmjs-codecs";
import { quietDicomLibraries } from "../quiet_libraries.ts";

// deno-lint-ignore no-explicit-any
const { NativeCodecs, Transcoder } = codecs as any;

let ready: Promise<void> | undefined;

function initialize(): Promise<void> {
  if (!ready) {
    // dcmjs logs every private element with its value while transcoding: never PHI in our output.
    quietDicomLibraries();
    ready = NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false });
  }
  return ready!;
}

/** Transcodes a Part 10 object; throws with the codec's reason when it cannot. */
export async function transcodePart10(part10: Uint8Array, to: string): Promise<Uint8Array> {
  await initialize();
  const buffer = part10.byteOffset === 0 && part10.byteLength === part10.buffer.byteLength
    ? part10.buffer
    : part10.slice().buffer;
  const transcoder = new Transcoder(buffer);
  transcoder.transcode(to);
  return new Uint8Array(transcoder.getDicomPart10() as ArrayBuffer);
}
