/**
 * Rendered images and thumbnails of archived instances (PS3.18 10.4 and 10.6), made at the site so that
 * only the small image crosses the tunnel. Decoding and rendering run in one worker (render.ts through
 * worker.ts; in this thread only where no worker starts, as in a bundled build); thumbnails are kept in
 * a bounded cache on disk (cache.ts). Same requests made at once share one rendering.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { WorkerClient } from "../transcode/worker_client.ts";
import { FrameNotFoundError, RenderError, RenderRequestError } from "./errors.ts";
import { objectTag, type ThumbnailCache } from "./cache.ts";
import type { Rendered, RenderJob, RenderJobResult, RenderOptions } from "./render.ts";
import { checkFrameSamples } from "./attributes.ts";
import { type FrameBytes, frameCheck, readFrame } from "./read.ts";
import { Slots } from "../slots.ts";
import { type ByteSource, withSource } from "../part10/source.ts";
import { workerUrl } from "../worker_url.ts";

export { FrameNotFoundError, RenderError, RenderRequestError } from "./errors.ts";
export { ThumbnailCache } from "./cache.ts";
export type { RenderJob, RenderOptions } from "./render.ts";

/** One image served: a thumbnail or a rendered image, made now (decoded), from the cache, or failed. */
export interface RenderEvent {
  kind: "rendered" | "thumbnail";
  outcome: "decoded" | "cached" | "failed";
  /** Time spent reading, decoding, rendering and encoding (decoded only). */
  ms?: number;
}

/** The default thumbnail size: it fits in 128 × 128, aspect kept. */
export const THUMBNAIL_SIZE = 128;

/** The archived object to render, as the index knows it. */
export interface RenderSource {
  /** Opens the object for reading. */
  open(): Promise<ByteSource>;
  sopInstanceUid: string;
  /** SHA-256 of the archived data set: thumbnails of a replaced object are not reused. */
  sha256: string;
}

/** Errors from the worker keep their meaning: a missing frame, an image that cannot be rendered. */
function workerError(message: string, name?: string): Error {
  if (name === "FrameNotFoundError") return new FrameNotFoundError(message);
  if (name === "RenderError") return new RenderError(message);
  if (name === "RenderRequestError") return new RenderRequestError(message);
  return new Error(message);
}

const worker = new WorkerClient<RenderJob, RenderJobResult>(workerUrl("render"), {
  // Loaded only here (and in the worker), not with the agent.
  inThread: (job) => import("./render.ts").then((m) => m.runJob(job)),
  error: workerError,
  transfer: ({ input }) => [(input.kind === "frame" ? input.bytes : input.object).buffer as ArrayBuffer],
});

/**
 * Frames read for the worker at once, across every request: the one it works on and the next. The worker
 * takes one at a time, so a frame read earlier would only wait in memory: 16 renders of 32 MB frames asked
 * at once held 850 MB at the agent when each request read its frame on arrival.
 */
const readAhead = new Slots(2);

/** The cache's key: its object's tag (so that an erasure finds its thumbnails), then a hash of what was made. */
async function cacheKey(source: RenderSource, frame: number, options: RenderOptions): Promise<string> {
  const text = JSON.stringify([source.sopInstanceUid, source.sha256, frame, options]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${objectTag(source.sopInstanceUid)}-${hex}`;
}

/**
 * Frames `frames` (1-based) of the object in `source` as native little endian pixels, decoded in the
 * rendering worker: for WADO-RS frames of objects the transcoder cannot turn native (JPEG Extended and
 * JPEG Lossless, deflated objects). Throws FrameNotFoundError (no such frame, no pixel data) or
 * RenderError (not an image, no decoder). The decoded frames' layout is the decoder's (`decodeFrame` in
 * agent/transcode/codec.ts: three-component JPEG comes out RGB).
 */
export async function* decodedFrames(source: ByteSource, frames: number[]): AsyncGenerator<Uint8Array> {
  for (const [i, frame] of frames.entries()) {
    const { decoded, all } = await readAhead.run(async () => {
      const input = await readFrame(source, frame);
      if (input.kind === "deflated") {
        // The object is inflated once for all the frames asked (each checked before any is given).
        return { decoded: await decode(input, frames), all: true };
      }
      if (i === 0) { for (const f of frames) frameCheck(input.attrs, f); }
      return { decoded: await decode(input, [frame]), all: false };
    });
    yield* decoded;
    if (all) return;
  }
}

async function decode(input: FrameBytes, frames: number[]): Promise<Uint8Array[]> {
  return (await worker.call({ input, decode: frames }) as { frames: Uint8Array[] }).frames;
}

export class Renderer {
  #inFlight = new Map<string, Promise<Uint8Array>>();

  constructor(
    private readonly cache: ThumbnailCache | undefined,
    private readonly log: Logger,
    private readonly onEvent: (e: RenderEvent) => void = () => {},
  ) {}

  /** Bytes the thumbnail cache holds. */
  get cachedBytes(): number {
    return this.cache?.bytes ?? 0;
  }

  /**
   * Frame `frame` of `source` rendered as `options` say; a thumbnail comes from the cache when it is
   * there, and goes into it when it is made. Throws FrameNotFoundError (no such frame, no pixel data),
   * RenderError (an image this site cannot render) or Error (the file could not be read).
   */
  async render(
    source: RenderSource,
    frame: number,
    options: RenderOptions,
    thumbnail: boolean,
  ): Promise<Uint8Array> {
    const kind = thumbnail ? "thumbnail" : "rendered";
    const key = await cacheKey(source, frame, options);
    if (thumbnail && this.cache) {
      const hit = await this.cache.get(key);
      if (hit) {
        this.onEvent({ kind, outcome: "cached" });
        return hit;
      }
    }
    const running = this.#inFlight.get(key);
    if (running) return await running;
    const work = this.#make(source, frame, options, kind, key);
    this.#inFlight.set(key, work);
    try {
      return await work;
    } finally {
      this.#inFlight.delete(key);
    }
  }

  async #make(
    source: RenderSource,
    frame: number,
    options: RenderOptions,
    kind: RenderEvent["kind"],
    key: string,
  ): Promise<Uint8Array> {
    const started = performance.now();
    let rendered: Rendered;
    try {
      rendered = await readAhead.run(async () => {
        // A frame too large to render is refused from its header, before its bytes are read.
        const input = await withSource(source.open(), (s) => readFrame(s, frame, checkFrameSamples));
        return await worker.call({ input, options }) as Rendered;
      });
    } catch (err) {
      this.onEvent({ kind, outcome: "failed" });
      throw err;
    }
    const ms = performance.now() - started;
    this.onEvent({ kind, outcome: "decoded", ms });
    this.log.debug("rendered", {
      sop: hashUid(source.sopInstanceUid),
      kind,
      frame,
      width: rendered.width,
      height: rendered.height,
      bytes: rendered.bytes.byteLength,
      ms: Math.round(ms),
    });
    if (kind === "thumbnail" && this.cache) {
      await this.cache.put(key, rendered.bytes, options.media === "image/png" ? "png" : "jpg");
    }
    return rendered.bytes;
  }
}
