/**
 * A C-STORE whose data set begins with File Meta elements (group 0002) is refused with 0xC000, and nothing of
 * it is archived. Until 2026-12-06 it was answered Success and stored behind the agent's own File Meta group,
 * where it read as part of that group: pydicom took its second Transfer Syntax UID (here Explicit VR Big
 * Endian) and read the object in a syntax it is not in. The same object without them is stored.
 */
import assert from "node:assert/strict";
import { TransferSyntax } from "@conduit/shared/dicom";
import { startAgentProcess } from "../support/agent.ts";
import { concat, cStore, hexStatus, release } from "../support/pdu.ts";
import { assertNoLeftovers, associateForCt, ctObject } from "../support/faults.ts";

/** (0002,0010) Transfer Syntax UID in explicit VR little endian, as a sender might leave it in. */
function transferSyntaxElement(uid: string): Uint8Array {
  const value = new TextEncoder().encode(uid.length % 2 ? `${uid}\0` : uid);
  const out = new Uint8Array(8 + value.length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0x0002, true);
  view.setUint16(2, 0x0010, true);
  out.set([0x55, 0x49], 4); // UI
  view.setUint16(6, value.length, true);
  out.set(value, 8);
  return out;
}

Deno.test("a C-STORE data set beginning with File Meta elements is refused with 0xC000, not archived", async () => {
  const agent = await startAgentProcess();
  const object = ctObject("file-meta-in-dataset", { rows: 16, columns: 16 });
  try {
    const { socket, ac } = await associateForCt(agent, "GROUP2");
    const store = { contextId: 1, maxPduLength: ac.maxPduLength, ...object };
    const smuggled = concat([transferSyntaxElement(TransferSyntax.ExplicitVRBigEndian), object.dataset]);
    assert.equal(hexStatus(await cStore(socket, { ...store, dataset: smuggled })), "0xC000");
    await assertNoLeftovers(agent, []);
    assert.equal(hexStatus(await cStore(socket, { ...store, messageId: 2 })), "0x0000");
    await release(socket);
    await assertNoLeftovers(agent, [object.sopInstanceUid]);
  } finally {
    await agent.stop();
  }
});
