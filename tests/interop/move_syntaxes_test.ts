/**
 * C-MOVE to a destination that accepts only some transfer syntaxes (DCMTK `storescp +xi`: Implicit VR Little
 * Endian only), with objects the agent stored in Explicit VR Little Endian (what it prefers from `storescu`).
 * The agent never transcodes over DIMSE (conformance statement, section 5): such sub-operations fail, and the
 * C-MOVE requester must be told so in the counts and the Failed SOP Instance UID List.
 */
import assert from "node:assert/strict";
import { runDcmtk, skipReason, startStorescp } from "../support/peers.ts";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { readPart10Header } from "@conduit/shared/dicom";

const skip = skipReason("storescp", "storescu", "movescu");
if (skip) console.warn(`move_syntaxes_test: skipped: ${skip}`);

Deno.test({
  name:
    "C-MOVE to a node that accepts none of the stored syntaxes: every sub-operation counted failed and listed, with the reason",
  ignore: !!skip,
  fn: async () => {
    const scratch = await Deno.makeTempDir({ prefix: "move-syntaxes-" });
    const scp = await startStorescp({ dir: `${scratch}/scp`, aet: "IMPLONLY", extraArgs: ["+xi"] });
    const agent = await startAgentProcess({
      config: { nodes: { implonly: { aet: scp.aet, host: "127.0.0.1", port: scp.port } } },
    });
    try {
      const series = await writeGeneratedSeries(`${scratch}/in`, {
        count: 2,
        rows: 8,
        columns: 8,
        seed: "ts",
      });
      const sent = await storescu(series.paths, agent);
      assert.equal(sent.code, 0, sent.stderr);
      const moved = await runDcmtk("movescu", [
        "-d",
        "-S",
        "-aec",
        agent.aet,
        "-aem",
        scp.aet,
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        `StudyInstanceUID=${series.studyUid}`,
        "127.0.0.1",
        String(agent.port),
      ]);
      const out = moved.stdout + moved.stderr;
      const final = out.slice(out.lastIndexOf("C-MOVE RSP"));
      assert.match(final, /DIMSE Status\s*: 0xa702/);
      assert.match(final, /Failed Suboperations\s*: 2\b/, final);
      assert.match(final, /Completed Suboperations\s*: none|Completed Suboperations\s*: 0\b/, final);
      for (const file of series.paths) {
        const uid = readPart10Header(await Deno.readFile(file)).sopInstanceUid!;
        assert.ok(final.includes(uid), `${uid} not in the failed list`);
      }
      assert.match(
        final,
        /\[IMPLONLY accepted no context for 1\.2\.840\.10008\.1\.2\.1\] .*ErrorComment/,
        final,
      );
      assert.deepEqual(await listFiles(`${scratch}/scp`), []);
    } finally {
      await agent.stop();
      await scp.stop();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
