/// <reference lib="deno.worker" />
/** The rendering worker: `{ input, options }` in (a frame's bytes as read.ts read them), the encoded image out. */
import { serveRequests } from "../transcode/worker_host.ts";
import { renderBytes, type Rendered } from "./render.ts";
import type { RenderJob } from "./mod.ts";

serveRequests<RenderJob, Rendered>(
  ({ input, options }) => renderBytes(input, options),
  (r) => [r.bytes.buffer as ArrayBuffer],
);
