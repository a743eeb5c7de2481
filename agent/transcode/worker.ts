/// <reference lib="deno.worker" />
/** The transcoding worker: one request at a time, `{ id, bytes, to }` in, `{ id, bytes | error }` out. */
import { transcodePart10 } from "./codec.ts";

self.onmessage = async (e: MessageEvent<{ id: number; bytes: Uint8Array; to: string }>) => {
  const { id, bytes, to } = e.data;
  try {
    const out = await transcodePart10(bytes, to);
    self.postMessage({ id, bytes: out }, [out.buffer as ArrayBuffer]);
  } catch (err) {
    self.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
};
