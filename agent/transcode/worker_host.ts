/// <reference lib="deno.worker" />
/**
 * The worker side of WorkerClient (worker_client.ts): answers `{ id, request }` with `{ id, result }` or
 * `{ id, error, name }` (the error's message and class name), one request at a time as they arrive.
 * Nothing in a pixel worker has anything to say on the agent's output: the DICOM libraries' loggers are
 * silenced (codec.ts), and any direct console call they make (dcmjs has a few, some with values) is
 * dropped. Failures go back to the agent as messages.
 */
export function serveRequests<Req, Res>(
  handle: (request: Req) => Promise<Res>,
  transfer: (result: Res) => Transferable[] = () => [],
): void {
  for (const method of ["log", "info", "warn", "error", "debug", "trace"] as const) {
    console[method] = () => {};
  }
  self.onmessage = async (e: MessageEvent<{ id: number; request: Req }>) => {
    const { id, request } = e.data;
    try {
      const result = await handle(request);
      self.postMessage({ id, result }, transfer(result));
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      self.postMessage({ id, error: e.message, name: e.name });
    }
  };
}
