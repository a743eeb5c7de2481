/**
 * A C-STORE in Deflated Explicit VR Little Endian is checked inflated: a data set with File Meta elements
 * (group 0002) at its start, a VR that is no DICOM VR (XX), an undefined length on a UT, a deflate stream
 * that is not deflate and one cut short are each refused with 0xC000 and nothing of them archived; a good
 * deflated object on the same association is stored. Until 2026-12-06 deflated data sets were not looked
 * into: all but the stream that is not deflate were answered Success and archived, and DCMTK could not read
 * the stored VR and undefined-length objects (dcmdump: "larger than remaining bytes").
 */
import assert from "node:assert/strict";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import * as path from "node:path";
import { type AgentProcess, filesBySopInstance, startAgentProcess } from "../support/agent.ts";
import { associate, cStore, hexStatus, release } from "../support/pdu.ts";
import { agentLog, assertNoLeftovers, assertServing, ctObject, noise } from "../support/faults.ts";
import { defectiveObject, DEFECTS, deflated } from "../support/structure_defects.ts";
import { runDcmtk, skipReason } from "../support/peers.ts";

const skip = skipReason("echoscu", "dcmdump");
if (skip) console.warn(`deflated_structure_test: skipped: ${skip}`);

/**
 * An association of `callingAet` with one CT context in `syntax` only, and a C-STORE on it that answers its
 * status as hex (its message ids counted from 1).
 */
async function storesIn(agent: AgentProcess, callingAet: string, syntax: string) {
  const { socket, ac } = await associate(agent.port, {
    calledAet: agent.aet,
    callingAet,
    contexts: [{ id: 1, abstractSyntax: SopClass.CtImage, transferSyntaxes: [syntax] }],
  });
  let messageId = 1;
  const store = async (o: { sopClassUid: string; sopInstanceUid: string }, dataset: Uint8Array) =>
    hexStatus(
      await cStore(socket, {
        contextId: 1,
        maxPduLength: ac.maxPduLength,
        messageId: messageId++,
        ...o,
        dataset,
      }),
    );
  return { socket, store };
}

Deno.test({
  name: "a deflated C-STORE data set is checked inflated: defects, bad and cut deflate refused with 0xC000",
  ignore: !!skip,
  async fn() {
    const agent = await startAgentProcess();
    try {
      const { socket, store } = await storesIn(
        agent,
        "DEFLATER",
        TransferSyntax.DeflatedExplicitVRLittleEndian,
      );
      for (const defect of DEFECTS) {
        const bad = defectiveObject(`deflated-${defect}`, defect, true);
        assert.equal(await store(bad, bad.dataset), "0xC000", `${defect}${await agentLog(agent)}`);
      }
      const notDeflate = ctObject("deflated-noise", { rows: 16, columns: 16 });
      assert.equal(await store(notDeflate, noise(4000, 11)), "0xC000", "not deflate");
      const cut = ctObject("deflated-cut", { rows: 64, columns: 64 });
      const whole = deflated(cut.dataset);
      assert.equal(await store(cut, whole.subarray(0, whole.length - 200)), "0xC000", "cut short");
      await assertNoLeftovers(agent, []);
      const good = ctObject("deflated-good", { rows: 64, columns: 64 });
      assert.equal(await store(good, deflated(good.dataset)), "0x0000", "a good deflated object");
      await release(socket);
      await assertNoLeftovers(agent, [good.sopInstanceUid]);
      await assertServing(agent);
      const log = await agentLog(agent);
      assert.match(log, /does not inflate/);
      assert.doesNotMatch(log, /FAULT\^INPUT|FAULT-1/, "no PHI in the log");
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "a C-STORE in JPIP Referenced Deflate is read as deflated: a good one stored (DCMTK reads it), a bad one 0xC000",
  ignore: !!skip,
  async fn() {
    const agent = await startAgentProcess();
    try {
      const { socket, store } = await storesIn(agent, "JPIP", TransferSyntax.JpipReferencedDeflate);
      // Until 2026-12-06 its data set was read as Explicit VR Little Endian, not inflated: a good one was
      // refused (0xC000, invalid VR at byte 0), and a bad one could not be told from it.
      const good = ctObject("jpip-good", { rows: 16, columns: 16 });
      assert.equal(await store(good, deflated(good.dataset)), "0x0000", await agentLog(agent));
      const bad = defectiveObject("jpip-bad", "unknown-vr", true);
      assert.equal(await store(bad, bad.dataset), "0xC000");
      await release(socket);
      await assertNoLeftovers(agent, [good.sopInstanceUid]);
      const [file] = (await filesBySopInstance(path.join(agent.dataDir, "archive"))).get(
        good.sopInstanceUid,
      )!;
      const dump = await runDcmtk("dcmdump", ["+P", "0008,0018", file]);
      assert.equal(dump.code, 0, dump.stderr);
      assert.match(dump.stdout, new RegExp(good.sopInstanceUid.replaceAll(".", "\\.")));
    } finally {
      await agent.stop();
    }
  },
});
