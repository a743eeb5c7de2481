import assert from "node:assert/strict";
import { WorkerClient } from "./worker_client.ts";
import type { RenderJob } from "../render/mod.ts";
import type { Rendered } from "../render/render.ts";

const CT = "/usr/lib/python3/dist-packages/pydicom/data/test_files/CT_small.dcm";
const haveCt = (() => {
  try {
    return Deno.statSync(CT).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "WorkerClient runs the rendering in a worker, keeps error classes, and works in this thread without one",
  ignore: !haveCt,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    let here = 0;
    const inThread = async (job: RenderJob) => {
      here++;
      const { renderFile } = await import("../render/render.ts");
      return renderFile(job.path, job.frame, job.options);
    };
    const error = (message: string, name?: string) =>
      Object.assign(new Error(message), { name: name ?? "Error" });
    const worker = new WorkerClient<RenderJob, Rendered>(new URL("../render/worker.ts", import.meta.url), {
      inThread,
      error,
      idleMs: 10,
    });
    const out = await worker.call({ path: CT, frame: 1, options: { media: "image/png" } });
    assert.equal(out.width, 128);
    assert.equal(worker.inThread, false);
    assert.equal(here, 0, "nothing ran in this thread");
    await assert.rejects(
      worker.call({ path: CT, frame: 2, options: { media: "image/png" } }),
      (e: Error) => e.name === "FrameNotFoundError" && /frame 2 does not exist/.test(e.message),
    );
    // A worker module that cannot load (Deno prints its error; that is expected): the request, and the
    // next ones, run here instead.
    const none = new WorkerClient<RenderJob, Rendered>(
      new URL("data:application/javascript,throw new Error('this worker cannot load')"),
      {
        inThread,
        error,
      },
    );
    const again = await none.call({ path: CT, frame: 1, options: { media: "image/png" } });
    assert.deepEqual(again.bytes, out.bytes);
    assert.equal(none.inThread, true);
    assert.equal(here, 1);
    await new Promise((r) => setTimeout(r, 50)); // the idle worker stops
  },
});
