/// <reference lib="deno.worker" />
/** The transcoding worker: one request at a time, `{ id, bytes, to }` in, `{ id, bytes | error }` out. */
import { transcodePart10 } from "./codec.ts";

// Nothing in this worker has anything to say on the agent's output: the libraries' loggers are
// silenced (codec.ts), and any direct console call they make (dcmjs has a few, some with values) is
// dropped here. Failures go back to the agent as messages.
for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
  console[method] = () => {};
}

self.onmessage = async (e: MessageEvent<{ id: number; bytes: Uint8Array; to: string }>) => {
  const { id, bytes, to } = e.data;
  try {
    const out = await transcodePart10(bytes, to);
    self.postMessage({ id, bytes: out }, [out.buffer as ArrayBuffer]);
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
