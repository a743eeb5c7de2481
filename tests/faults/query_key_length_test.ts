/**
 * A C-FIND, C-MOVE or C-GET key longer than its VR allows (PS3.5 Table 6.2-1), such as a 50 000 character
 * wildcard pattern of a patient's name, is refused with 0xA900 (Identifier does not match SOP Class) and an
 * Error Comment naming the key and the limit. Before 2026-12-06 the agent handed the pattern to SQLite's
 * GLOB, which failed ("LIKE or GLOB pattern too complex"), and answered 0xC001 "processing failed".
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { PYDICOM_TEST_FILES_DIR, runDcmtk, skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { retrieveWith, storescu } from "../support/send.ts";
import { assertServing } from "../support/faults.ts";

const skip = skipReason("storescu", "findscu", "getscu", "echoscu");
if (skip) console.warn(`query_key_length_test: skipped: ${skip}`);

/** The final status and Error Comment of a DCMTK tool's last response, from its `-d` output. */
function finalStatus(output: string): { status: string; comment: string } {
  const statuses = [...output.matchAll(/DIMSE Status\s+: (0x[0-9a-f]{4})/g)].map((m) => m[1]);
  const comment = /\(0000,0902\) LO \[([^\]]*)\]/.exec(output)?.[1] ?? "";
  return { status: statuses.at(-1) ?? "none", comment: comment.trim() };
}

const LONG = `Compressed*${"x".repeat(50_001)}*`;

Deno.test({
  name: "a C-FIND or C-GET key longer than its VR allows is refused with 0xA900 naming the limit",
  ignore: Boolean(skip),
  async fn() {
    const agent = await startAgentProcess();
    try {
      const sent = await storescu([path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm")], agent);
      assert.equal(sent.code, 0, sent.stderr);
      const find = (keys: string[]) =>
        runDcmtk("findscu", [
          "-S",
          "-d",
          "-aec",
          agent.aet,
          ...["QueryRetrieveLevel=STUDY", ...keys].flatMap((k) => ["-k", k]),
          "127.0.0.1",
          String(agent.port),
        ]);

      const name = await find([`PatientName=${LONG}`]);
      assert.deepEqual(finalStatus(name.stdout + name.stderr), {
        status: "0xa900",
        comment: "PatientName: longer than the 64 characters a PN component group",
      });
      const id = await find([`PatientID=${"1".repeat(65)}`]);
      assert.deepEqual(finalStatus(id.stdout + id.stderr), {
        status: "0xa900",
        comment: "PatientID: longer than the 64 characters LO allows",
      });
      // a C-GET naming its patient by such a pattern: the same refusal, before any sub-operation
      const get = await retrieveWith("getscu", agent, [
        "QueryRetrieveLevel=STUDY",
        `PatientID=1*${"x".repeat(50_001)}*`,
        "StudyInstanceUID=1.2.3",
      ], [
        "-S",
        "-d",
        "-od",
        await Deno.makeTempDir({ prefix: "key-length-get-" }),
      ]);
      assert.deepEqual(finalStatus(get.stdout + get.stderr), {
        status: "0xa900",
        comment: "PatientID: longer than the 64 characters LO allows",
      });

      // the same query within the limits still matches, and the agent serves on
      const ok = await find([`PatientName=Compressed*`]);
      assert.equal(finalStatus(ok.stdout + ok.stderr).status, "0x0000");
      assert.match(ok.stdout + ok.stderr, /CompressedSamples\^CT1/);
      await assertServing(agent);
    } finally {
      await agent.stop();
    }
  },
});
