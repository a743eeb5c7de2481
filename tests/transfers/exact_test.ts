/**
 * Byte-exact through the tunnel by a transfer, for every shipped test file storescu sends in its own syntax
 * (tests/support/exact_files.ts): north's archived object reaches south's archive and south's PACS
 * (`storescp --bit-preserving`) in its stored syntax with the same data set (no de-identification asked:
 * nothing may change). Only the File Meta group (each receiver writes its own) may differ.
 */
import assert from "node:assert/strict";
import { finished, skip } from "./_rig.ts";
import { tunnelBatches } from "./_exact.ts";

if (skip) console.warn(`exact_test: skipped: ${skip}`);

Deno.test({
  name: "a transfer brings every test file north archived to south and its PACS with its data set unchanged",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { failures, compared } = await tunnelBatches({}, "transfer", async (r, batch) => {
      if (batch.length === 0) return []; // storescu could read none of the batch's files
      const { id } = await r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: [...new Set(batch.map((b) => b.studyInstanceUid))],
      });
      const done = await finished(r, id);
      return done.status === "success" ? [] : [`transfer ${done.status}: ${JSON.stringify(done.tasks)}`];
    });
    console.log(`compared ${compared} objects`);
    assert.deepEqual(failures, []);
    assert.ok(compared >= 90, `only ${compared} objects compared`);
  },
});
