/**
 * kill -9 while a conflict is resolved (docs/operations.md, "Resolving a conflict"): a real agent under
 * `archive.duplicates: keepBoth` receives an object twice with other bytes (DCMTK storescu), a resolution is
 * asked on its HTTP API and stopped at a step (CONDUIT_TEST_RESOLVE_STOP: once its row says it has begun, or
 * once the kept copy has moved onto the object's path), the agent is killed there, and the restarted agent
 * finishes it before it accepts work: the received bytes archived and indexed (or the kept copy gone), the
 * conflict resolved, never an object lost or an index row describing other bytes than its file's.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { skipReason } from "../support/peers.ts";
import { type AgentProcess, datasetBytes, indexRows, startAgentProcess } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { storescu } from "../support/send.ts";
import { conflictingPair, datasetSha256, sopOf } from "../support/conflicts.ts";

const skip = skipReason("storescu", "dcmodify");

/** The conflict row as the index holds it. */
function conflictRow(dataDir: string) {
  const [row] = indexRows(dataDir, "SELECT id, kept_path, resolution, resolved_at FROM conflicts");
  return row as { id: number; kept_path: string; resolution: string | null; resolved_at: number | null };
}

/** The archived object's row, and its file's data set as the row locates it. */
function archived(dataDir: string, sop: string) {
  const [row] = indexRows(
    dataDir,
    "SELECT path, sha256, dataset_offset AS o, dataset_size AS n FROM instances WHERE sop_instance_uid = ?",
    sop,
  ) as { path: string; sha256: string; o: number; n: number }[];
  const bytes = fs.readFileSync(path.join(dataDir, row.path));
  return { row, dataset: new Uint8Array(bytes.subarray(row.o, row.o + row.n)) };
}

for (
  const [keep, stop] of [["received", "begun"], ["received", "moved"], ["stored", "begun"]] as const
) {
  Deno.test({
    name: `kill -9 in a resolution keeping the ${keep} object, ${stop}: the restart finishes it`,
    ignore: Boolean(skip),
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const dataDir = await Deno.makeTempDir({ prefix: `conduit-resolve-crash-${stop}-` });
      const { first, second } = await conflictingPair(`resolve-crash-${keep}-${stop}`);
      const sop = await sopOf(first);
      const config = { archive: { duplicates: "keepBoth" } };
      let agent: AgentProcess = await startAgentProcess({
        dataDir,
        config,
        env: { CONDUIT_TEST_RESOLVE_STOP: stop },
      });
      try {
        for (const file of [first, second]) assert.equal((await storescu([file], agent)).code, 0);
        const conflict = conflictRow(dataDir);
        assert.ok(conflict.kept_path, "kept aside");
        const keptFile = path.join(dataDir, conflict.kept_path);
        // Asked, never answered: the resolution waits at its step, where the agent is killed.
        const asked = agent.http(`/conflicts/${conflict.id}/resolve`, {
          method: "POST",
          body: JSON.stringify({ keep }),
        }).then((r) => r.body?.cancel(), () => {});
        await eventually(`the resolution ${stop}`, () => {
          const row = conflictRow(dataDir);
          return row.resolution === keep && (stop === "begun" || !fs.existsSync(keptFile));
        });
        await agent.kill();
        await asked;
        assert.equal(conflictRow(dataDir).resolved_at, null, "killed before it was done");

        agent = await startAgentProcess({ dataDir, config, port: agent.port, httpPort: agent.httpPort });
        const resolved = conflictRow(dataDir);
        assert.equal(resolved.resolution, keep);
        assert.ok(resolved.resolved_at, "finished at the start");
        assert.ok(!fs.existsSync(keptFile), "the kept copy moved or deleted");
        const { row, dataset } = archived(dataDir, sop);
        const kept = keep === "received" ? second : first;
        assert.deepEqual(
          dataset,
          await datasetBytes(kept),
          "the index row locates the kept object's data set",
        );
        if (keep === "received") assert.equal(row.sha256, await datasetSha256(second));
        const listed = await (await agent.http("/conflicts")).json();
        assert.equal(listed.conflicts[0].resolution, keep);
        const again = await agent.http(`/conflicts/${conflict.id}/resolve`, {
          method: "POST",
          body: JSON.stringify({ keep }),
        });
        assert.equal(again.status, 409, "resolved once");
        await again.body?.cancel();
      } finally {
        await agent.stop();
      }
    },
  });
}
