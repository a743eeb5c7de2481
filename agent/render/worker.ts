/// <reference lib="deno.worker" />
/** The rendering worker: `{ path, frame, options }` in, the encoded image out (render.ts). */
import { serveRequests } from "../transcode/worker_host.ts";
import { type Rendered, renderFile } from "./render.ts";
import type { RenderJob } from "./mod.ts";

serveRequests<RenderJob, Rendered>(
  ({ path, frame, options }) => renderFile(path, frame, options),
  (r) => [r.bytes.buffer as ArrayBuffer],
);
