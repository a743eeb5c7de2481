/// <reference lib="deno.worker" />
/** The transcoding worker: `{ bytes, to }` in, the transcoded Part 10 bytes out. */
import { transcodePart10 } from "./codec.ts";
import { serveRequests } from "./worker_host.ts";

serveRequests<{ bytes: Uint8Array; to: string }, Uint8Array>(
  ({ bytes, to }) => transcodePart10(bytes, to),
  (out) => [out.buffer as ArrayBuffer],
);
