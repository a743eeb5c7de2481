/**
 * The index's SHA-256 of objects received by C-STORE (issue 16): not computed on the way to Success,
 * filled in by the backfill once the agent is idle, and equal to the hash of the data set as sent.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { skipReason } from "../support/peers.ts";
import { datasetBytes, indexRows, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu");

/** SOP Instance UID → sha256 column, read through a read-only connection beside the running agent. */
function hashes(dataDir: string): Map<string, string> {
  const rows = indexRows(dataDir, "SELECT sop_instance_uid AS sop, sha256 FROM instances");
  return new Map(rows.map((r) => [String(r.sop), String(r.sha256)]));
}

Deno.test({
  name: "objects received by C-STORE get their data set's SHA-256 in the index once the agent is idle",
  ignore: !!skip,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "backfill-" });
    const series = await writeGeneratedSeries(dir, { count: 5, rows: 32, columns: 32, seed: "backfill" });
    const expected: string[] = [];
    for (const file of series.paths) {
      expected.push(createHash("sha256").update(await datasetBytes(file)).digest("hex"));
    }
    const agent = await startAgentProcess();
    try {
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr);
      let seen = hashes(agent.dataDir);
      for (let waited = 0; [...seen.values()].some((h) => h === "") && waited < 30_000; waited += 250) {
        await new Promise((r) => setTimeout(r, 250));
        seen = hashes(agent.dataDir);
      }
      assert.equal(seen.size, series.paths.length);
      const got = [...seen.values()].sort();
      assert.deepEqual(got, expected.sort(), "every row holds its data set's SHA-256");
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
