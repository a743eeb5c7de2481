/**
 * Storage Commitment reports to the agent as SCU (conformance.md section 16): a peer that opens an
 * association to the agent's SCP in the role of the report's SCU (SCP/SCU Role Selection SCU 0, SCP 1, as a
 * commitment SCP does) has the context accepted; malformed N-EVENT-REPORT-RQs get their status
 * (0x0113, 0x0115, 0x0118) without ending the association, and a report on a transaction the agent never
 * asked for is answered Success and changes nothing.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import {
  associate,
  cEchoRq,
  CommandField,
  commandSet,
  CommandTag,
  ContextResult,
  type DatasetValue,
  implicitDataset,
  pdataTf,
  type PduSocket,
  readCommand,
  release,
} from "../support/pdu.ts";

const STGCMT = "1.2.840.10008.1.20.1";
const STGCMT_INSTANCE = "1.2.840.10008.1.20.1.1";
const IMPLICIT = "1.2.840.10008.1.2";
const CT = "1.2.840.10008.5.1.4.1.1.2";
const TRANSACTION_UID = 0x00081195;
const REFERENCED_SOP_SEQUENCE = 0x00081199;
const REFERENCED_SOP_CLASS = 0x00081150;
const REFERENCED_SOP_INSTANCE = 0x00081155;

/** Sends an N-EVENT-REPORT-RQ on context 1 and resolves with the status of its response. */
async function report(
  socket: PduSocket,
  messageId: number,
  eventType: number,
  dataset: Record<number, DatasetValue> | undefined,
  sopClass = STGCMT,
): Promise<number> {
  const command = commandSet({
    [CommandTag.AffectedSopClassUid]: { uid: sopClass },
    [CommandTag.CommandField]: { us: CommandField.NEventReportRq },
    [CommandTag.MessageId]: { us: messageId },
    [CommandTag.CommandDataSetType]: { us: dataset ? 0x0000 : 0x0101 },
    [CommandTag.AffectedSopInstanceUid]: { uid: STGCMT_INSTANCE },
    [CommandTag.EventTypeId]: { us: eventType },
  });
  await socket.send(pdataTf([{ contextId: 1, command: true, last: true, value: command }]));
  if (dataset) {
    await socket.send(
      pdataTf([{ contextId: 1, command: false, last: true, value: implicitDataset(dataset) }]),
    );
  }
  const answer = await readCommand(socket);
  assert.ok(answer.kind === "command", "an N-EVENT-REPORT-RSP");
  assert.equal(answer.command.us(CommandTag.CommandField), CommandField.NEventReportRsp);
  assert.equal(answer.command.us(CommandTag.MessageIdBeingRespondedTo), messageId);
  return answer.command.us(CommandTag.Status)!;
}

Deno.test({
  name: "storage commitment reports to the agent: accepted in the SCU role, malformed ones refused by status",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const agent = await startAgentProcess({ aet: "REQUESTER" });
    try {
      const { socket, ac } = await associate(agent.port, {
        calledAet: "REQUESTER",
        callingAet: "PACS",
        contexts: [
          { id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] },
          { id: 3, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: [IMPLICIT] },
        ],
        scpRoles: [STGCMT],
      });
      try {
        assert.equal(ac.contexts.find((c) => c.id === 1)?.result, ContextResult.Acceptance);
        const refs = {
          items: [{
            [REFERENCED_SOP_CLASS]: { uid: CT },
            [REFERENCED_SOP_INSTANCE]: { uid: "2.25.77" },
          }],
        };
        assert.equal(await report(socket, 1, 9, { [TRANSACTION_UID]: { uid: "2.25.5" } }), 0x0113);
        assert.equal(await report(socket, 2, 1, { [REFERENCED_SOP_SEQUENCE]: refs }), 0x0115);
        assert.equal(await report(socket, 3, 1, undefined), 0x0115);
        assert.equal(
          await report(socket, 4, 1, { [TRANSACTION_UID]: { uid: "2.25.5" } }, "1.2.840.10008.1.1"),
          0x0118,
        );
        // A transaction the agent never asked for: answered, and ignored.
        assert.equal(
          await report(socket, 5, 1, {
            [TRANSACTION_UID]: { uid: "2.25.5" },
            [REFERENCED_SOP_SEQUENCE]: refs,
          }),
          0,
        );
        // The association goes on.
        await socket.send(pdataTf([{ contextId: 3, command: true, last: true, value: cEchoRq(6) }]));
        const echo = await readCommand(socket);
        assert.ok(echo.kind === "command");
        assert.equal(echo.command.us(CommandTag.Status), 0);
        await release(socket);
      } finally {
        await socket.close();
      }
      assert.ok((await agent.http("/healthz")).ok);
    } finally {
      await agent.stop();
    }
  },
});
