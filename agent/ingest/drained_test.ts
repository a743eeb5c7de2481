/**
 * A stop waits for C-STOREs already received: `Ingest.drained()` resolves only once an object that was
 * still being made durable in the intake when it was asked has been committed. `settled()` alone resolved
 * before such an object reached the group commit, which the stop then closed: the object was left for the
 * next start's reconcile and the stop wrote no clean-stop mark (seen in a CI run on a busy machine).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { cStoreObject, ingestRig } from "./testing.ts";

Deno.test("drained() waits for a C-STORE still being made durable; settled() alone did not", async () => {
  const rig = await ingestRig("drained", false);
  const { db, intake, ingest, dataset, tearDown } = rig;
  const { ctx } = await cStoreObject("drained"); // the rig's object's C-STORE context
  const indexed = () => Number(db.statement("SELECT count(*) AS n FROM instances").get()?.n);
  // The intake's durable write held until the test lets it go (a slow fsync on a busy machine).
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const accept = intake.accept.bind(intake);
  intake.accept = async (...args) => (await gate, await accept(...args));
  try {
    const sink = ingest.open(ctx);
    sink.write(dataset);
    sink.end();
    await once(sink, "finish");
    const answered = ingest.commit(sink, ctx);
    await new Promise((r) => setTimeout(r, 20));
    let settledWith = -1, drainedWith = -1;
    const settled = ingest.settled().then(() => settledWith = indexed());
    const drained = ingest.drained().then(() => drainedWith = indexed());
    await settled;
    assert.equal(settledWith, 0, "settled() went on before the object reached the group commit");
    assert.equal(drainedWith, -1, "drained() waits for it");
    release();
    assert.equal((await answered).status, 0);
    await drained;
    assert.equal(drainedWith, 1, "drained() resolved with the object committed");
  } finally {
    release();
    await tearDown();
  }
});
