/**
 * Transcoding archived objects to another transfer syntax, for WADO-RS clients that ask for one
 * (PS3.18 8.7.3). The work runs in one worker so that decoding a large multi-frame object never stalls
 * the event loop the tunnel's heartbeats ride on; requests queue there one at a time. An object over
 * `MAX_TRANSCODE_BYTES` is refused: the whole object is held in memory while it is transcoded.
 */
import { TransferSyntax } from "@conduit/shared/dicom/uids.ts";

/** The syntaxes dcmjs-codecs reads and writes (its README); deflate and video are not among them. */
export const TRANSCODABLE: ReadonlySet<string> = new Set([
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.Rle,
  TransferSyntax.JpegBaseline,
  TransferSyntax.JpegLosslessSV1,
  TransferSyntax.JpegLsLossless,
  TransferSyntax.JpegLsNearLossless,
  TransferSyntax.Jpeg2000Lossless,
  TransferSyntax.Jpeg2000,
  TransferSyntax.HtJpeg2000Lossless,
  TransferSyntax.HtJpeg2000LosslessRpcl,
  TransferSyntax.HtJpeg2000,
]);

/** The largest object transcoded (its Part 10 size). */
export const MAX_TRANSCODE_BYTES = 256 * 1024 * 1024;

/** How long an idle worker is kept before it is stopped (it holds the codecs' memory). */
const IDLE_MS = 30_000;

export class TranscodeError extends Error {
  override name = "TranscodeError";
}

/** True when dcmjs-codecs can turn `from` into `to`. */
export function canTranscode(from: string, to: string): boolean {
  return from !== to && TRANSCODABLE.has(from) && TRANSCODABLE.has(to);
}

interface Pending {
  resolve: (bytes: Uint8Array) => void;
  reject: (err: Error) => void;
}

class TranscodeWorker {
  #worker?: Worker;
  #pending = new Map<number, Pending>();
  #next = 1;
  #idle?: ReturnType<typeof setTimeout>;
  #broken = false;

  #start(): Worker | undefined {
    if (this.#worker || this.#broken) return this.#worker;
    try {
      const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
      worker.onmessage = (e: MessageEvent<{ id: number; bytes?: Uint8Array; error?: string }>) => {
        const p = this.#pending.get(e.data.id);
        this.#pending.delete(e.data.id);
        if (e.data.bytes) p?.resolve(e.data.bytes);
        else p?.reject(new TranscodeError(e.data.error ?? "the transcoder gave nothing"));
        this.#armIdle();
      };
      let answered = false;
      worker.addEventListener("message", () => (answered = true));
      worker.onerror = (e) => {
        e.preventDefault();
        // A worker that never answered could not load (a bundled build has no worker module beside
        // it): from now on transcode in this thread. One that did answer crashed on an input; the next
        // request starts a new one.
        if (!answered) this.#broken = true;
        this.#fail(new TranscodeError(`the transcoding worker failed: ${e.message}`));
      };
      this.#worker = worker;
    } catch {
      // A bundled build has no worker module beside it: transcode in this thread instead.
      this.#broken = true;
    }
    return this.#worker;
  }

  #fail(err: Error) {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #armIdle() {
    clearTimeout(this.#idle);
    if (this.#pending.size > 0) return;
    this.#idle = setTimeout(() => {
      if (this.#pending.size === 0) {
        this.#worker?.terminate();
        this.#worker = undefined;
      }
    }, IDLE_MS);
    Deno.unrefTimer(this.#idle as unknown as number);
  }

  transcode(part10: Uint8Array, to: string): Promise<Uint8Array> {
    clearTimeout(this.#idle);
    const worker = this.#start();
    if (!worker) {
      // Loaded only here (and in the worker), not with the agent.
      return import("./codec.ts").then(({ transcodePart10 }) => transcodePart10(part10, to)).catch((err) => {
        throw new TranscodeError(err instanceof Error ? err.message : String(err));
      });
    }
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      worker.postMessage({ id, bytes: part10, to }, [part10.buffer as ArrayBuffer]);
    });
  }
}

const shared = new TranscodeWorker();

/**
 * The Part 10 file at `path` transcoded to `to`. Throws TranscodeError when the syntaxes are not
 * supported, the object is too large, or the codec fails (lossy targets refuse data they cannot
 * hold, e.g. JPEG baseline and 16-bit pixels).
 */
export async function transcodeFile(path: string, from: string, to: string): Promise<Uint8Array> {
  if (!canTranscode(from, to)) throw new TranscodeError(`cannot transcode ${from} to ${to}`);
  const { size } = await Deno.stat(path);
  if (size > MAX_TRANSCODE_BYTES) {
    throw new TranscodeError(
      `the object (${size} bytes) is larger than the ${MAX_TRANSCODE_BYTES} transcoded`,
    );
  }
  return await shared.transcode(await Deno.readFile(path), to);
}
