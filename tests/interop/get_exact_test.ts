/**
 * Byte-exact by C-GET, for every shipped test file storescu can send in its own syntax
 * (tests/support/exact_files.ts): an agent's node retrieve (`retrieve: get`) from another agent proposes each
 * object's stored syntax in a context of its own (the source lists them in Available Transfer Syntax UID), so
 * each object must arrive in that syntax with the source's data set, byte for byte; only the File Meta group
 * (written by each agent) may differ. DCMTK's getscu cannot propose a compressed syntax alone (its contexts
 * always add the uncompressed ones, and the agent then sends decoded, as conformance.md section 5 says): its
 * byte-exact retrieve of an Explicit VR object is in dcmtk_qr_test.ts, its conversions in send_syntaxes_test.ts.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { skipReason } from "../support/peers.ts";
import { archivedBySop, compareBatch, exactFileBatches, sendBatch } from "../support/exact_files.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`get_exact_test: skipped: ${skip}`);

Deno.test({
  name:
    "every test file an agent archives reaches another agent's C-GET in its syntax with its data set unchanged",
  ignore: !!skip,
  fn: async () => {
    const failures: string[] = [];
    const unreadable: string[] = [];
    let compared = 0;
    for (const batch of await exactFileBatches()) {
      const source = await startAgentProcess({ aet: "SOURCE" });
      const agent = await startAgentProcess({
        config: {
          nodes: { src: { aet: source.aet, host: "127.0.0.1", port: source.port, retrieve: "get" } },
        },
      });
      try {
        const sent = await sendBatch(batch, source);
        failures.push(...sent.refused);
        unreadable.push(...sent.unreadable);
        const archived = await archivedBySop(source.dataDir);
        for (const study of new Set(batch.map((r) => r.studyInstanceUid))) {
          const res = await agent.http("/nodes/src/retrieve", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ studyInstanceUid: study }),
          });
          const report = await res.json();
          if (!report.ok) failures.push(`study ${study}: ${JSON.stringify(report)}`);
        }
        failures.push(...await compareBatch(batch, archived, await archivedBySop(agent.dataDir), "C-GET"));
        compared += archived.size;
      } finally {
        await agent.stop();
        await source.stop();
      }
    }
    console.log(`compared ${compared} objects; storescu cannot read ${unreadable.join(", ")}`);
    assert.deepEqual(failures, []);
    assert.ok(compared >= 90, `only ${compared} objects compared`);
  },
});
