/**
 * A deflated object an older version answered Success for and left in the intake (a crash before its group
 * commit) is committed at the next start even when its inflated data set fails the structure checks this
 * version makes on receipt: refused after its Success, it would stay in the intake for ever. The same bytes
 * by C-STORE are refused (0xC000), and nothing of them archived.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { defectiveObject } from "../../tests/support/structure_defects.ts";
import { DimseStatusError, type StoreContext } from "../dimse/handlers.ts";
import { cStoreOf, ingestRig } from "./testing.ts";
import { recoverIntake } from "./recover.ts";

const quiet = new Logger({}, "error", { write: () => {} });

Deno.test("a malformed deflated object left in the intake by an older version is committed at start", async () => {
  const rig = await ingestRig("recover-deflated", false);
  try {
    const bad = defectiveObject("recover-deflated", "unknown-vr", true);
    const { ctx, dataset } = await cStoreOf(bad.bytes);
    const refused = await rig.ingest.commit(await written(rig, ctx, dataset), ctx).catch((err) => err);
    assert.ok(refused instanceof DimseStatusError, String(refused));
    assert.equal(refused.status, 0xc000);
    assert.match(refused.message, /invalid VR XX/);

    const file = path.join(rig.dir, "left.dcm");
    await Deno.writeFile(file, bad.bytes);
    await rig.intake.adopt(file, ctx.association);
    assert.deepEqual(await recoverIntake(rig.ingest, rig.intake, quiet), { committed: 1, failed: 0 });
    const rows = await rig.db.query<{ n: number }>(
      "SELECT count(*) AS n FROM instances WHERE sop_instance_uid = ?",
      [bad.sopInstanceUid],
    );
    assert.equal(rows[0].n, 1);
  } finally {
    await rig.tearDown();
  }
});

/** A C-STORE's sink with `dataset` written and ended (not committed). */
async function written(rig: Awaited<ReturnType<typeof ingestRig>>, ctx: StoreContext, dataset: Uint8Array) {
  const sink = rig.ingest.open(ctx);
  sink.write(dataset);
  sink.end();
  await new Promise((resolve) => sink.once("finish", resolve));
  return sink;
}
