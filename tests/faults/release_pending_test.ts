/**
 * A sender that releases without waiting for its C-STORE response (the A-RELEASE-RQ right behind the last
 * data set fragment) gets the response before the A-RELEASE-RP. Until 2026-12-06 the agent answered the
 * release as soon as the objects answered so far were committed, so the A-RELEASE-RP went out while the
 * last C-STORE was still being written and synced, and its Success came after the release, or not at all
 * once the sender closed; the object was archived, the sender never told.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import {
  Command,
  CommandField,
  CommandTag,
  concat,
  decodePdata,
  describe,
  PduType,
  releaseRq,
  sendCStore,
} from "../support/pdu.ts";
import { associateForCt, ctObject } from "../support/faults.ts";

Deno.test("a C-STORE released at once is answered before the A-RELEASE-RP", async () => {
  const agent = await startAgentProcess();
  const objects = [ctObject("release-pending", { rows: 32, columns: 32 })];
  try {
    const { socket, ac } = await associateForCt(agent, "HASTY");
    try {
      for (const [i, o] of objects.entries()) {
        await sendCStore(socket, { contextId: 1, messageId: i + 1, maxPduLength: ac.maxPduLength, ...o });
      }
      await socket.send(releaseRq());
      const seen: string[] = [];
      let command: Uint8Array[] = [];
      for (;;) {
        const r = await socket.read(15_000);
        assert.equal(r.kind, "pdu", `after ${seen.join(", ")}: ${describe(r)}`);
        if (r.kind !== "pdu" || r.type === PduType.ReleaseRp) break;
        assert.equal(r.type, PduType.PData, describe(r));
        for (const pdv of decodePdata(r.body)) {
          command.push(pdv.value);
          if (!pdv.last) continue;
          const answer = Command.parse(concat(command));
          command = [];
          assert.equal(answer.commandField, CommandField.CStoreRsp);
          seen.push(`${answer.text(CommandTag.AffectedSopInstanceUid)}:${answer.status}`);
        }
      }
      assert.deepEqual(seen, objects.map((o) => `${o.sopInstanceUid}:0`), "responses before A-RELEASE-RP");
    } finally {
      await socket.close();
    }
  } finally {
    await agent.stop();
  }
});
