/// <reference lib="deno.worker" />
/**
 * The rendering worker: `{ input, options }` in (a frame's bytes as read.ts read them), the encoded image
 * out; or `{ input, decode }` in, the frames' native pixels out.
 */
import { serveRequests } from "../transcode/worker_host.ts";
import { type RenderJob, type RenderJobResult, resultBuffers, runJob } from "./render.ts";

serveRequests<RenderJob, RenderJobResult>(
  runJob,
  resultBuffers,
  ({ input }) => (input.kind === "frame" ? input.bytes : input.object).byteLength,
);
