import assert from "node:assert/strict";
import { WorkerClient } from "./worker_client.ts";
import type { RenderJob } from "../render/mod.ts";
import type { Rendered, RenderJobResult } from "../render/render.ts";
import { readFrame } from "../render/read.ts";
import { openFile, withSource } from "../part10/source.ts";

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
      const { runJob } = await import("../render/render.ts");
      return runJob(job);
    };
    const error = (message: string, name?: string) =>
      Object.assign(new Error(message), { name: name ?? "Error" });
    const worker = new WorkerClient<RenderJob, RenderJobResult>(
      new URL("../render/worker.ts", import.meta.url),
      {
        inThread,
        error,
        idleMs: 10,
      },
    );
    const frame = () => withSource(openFile(CT), (source) => readFrame(source, 1));
    const out = await worker.call({ input: await frame(), options: { media: "image/png" } }) as Rendered;
    assert.equal(out.width, 128);
    assert.equal(worker.inThread, false);
    assert.equal(here, 0, "nothing ran in this thread");
    // A frame in a syntax the worker cannot decode: its RenderError comes back as one.
    const odd = await frame();
    assert.equal(odd.kind, "frame");
    await assert.rejects(
      worker.call({
        input: { ...odd, encapsulated: true, transferSyntax: "1.2.3.4" } as RenderJob["input"],
        options: { media: "image/png" },
      }),
      (e: Error) => e.name === "RenderError" && /1\.2\.3\.4 cannot be decoded here/.test(e.message),
    );
    // A worker module that cannot load (Deno prints its error; that is expected): the request, and the
    // next ones, run here instead.
    const none = new WorkerClient<RenderJob, RenderJobResult>(
      new URL("data:application/javascript,throw new Error('this worker cannot load')"),
      {
        inThread,
        error,
      },
    );
    const again = await none.call({ input: await frame(), options: { media: "image/png" } }) as Rendered;
    assert.deepEqual(again.bytes, out.bytes);
    assert.equal(none.inThread, true);
    assert.equal(here, 1);
    await new Promise((r) => setTimeout(r, 50)); // the idle worker stops
  },
});
