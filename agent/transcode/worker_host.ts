/// <reference lib="deno.worker" />

/** Bytes of requests answered between two collections (see serveRequests). */
const COLLECT_EVERY = 16 * 1024 * 1024;

/**
 * The worker side of WorkerClient (worker_client.ts): answers `{ id, request }` with `{ id, result }` or
 * `{ id, error, name }` (the error's message and class name), one request at a time as they arrive.
 * Nothing in a pixel worker has anything to say on the agent's output: the DICOM libraries' loggers are
 * silenced (codec.ts), and any direct console call they make (dcmjs has a few, some with values) is
 * dropped. Failures go back to the agent as messages.
 *
 * `weight` is the bytes a request brought in. With `--expose-gc` (as `deno task agent` runs), once
 * requests weighing COLLECT_EVERY have been answered the worker collects its garbage: a job's input and
 * its working arrays (a 3000 × 3000 frame rendered grows the agent by 200 to 360 MB) are dead once it
 * answered, but V8 let them pile up: 16 such renders asked at once grew the agent by 470 MB with frames
 * read two at a time (agent/render/mod.ts), 340 MB with this too.
 */
export function serveRequests<Req, Res>(
  handle: (request: Req) => Promise<Res>,
  transfer: (result: Res) => Transferable[] = () => [],
  weight: (request: Req) => number = () => 0,
): void {
  for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    console[method] = () => {};
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  let weighed = 0;
  self.onmessage = async (e: MessageEvent<{ id: number; request: Req }>) => {
    const { id, request } = e.data;
    try {
      const result = await handle(request);
      self.postMessage({ id, result }, transfer(result));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      self.postMessage({ id, error: e.message, name: e.name });
    }
    weighed += weight(request);
    if (gc && weighed >= COLLECT_EVERY) {
      weighed = 0;
      gc();
    }
  };
}
