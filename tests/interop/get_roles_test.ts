/**
 * C-GET and SCP/SCU Role Selection (PS3.7 D.3.3.4): the agent sends a C-GET's C-STORE sub-operations
 * only for SOP classes the requestor offered to be the SCP of; without that offer the requestor is an SCU
 * only, and such a sub-operation fails instead of arriving as a C-STORE-RQ it never agreed to take.
 */
import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { startScp } from "../../agent/dimse/scp_server.ts";
import type { OutgoingObject, RetrieveHandler } from "../../agent/dimse/handlers.ts";
import { memorySource } from "../../agent/part10/source.ts";
import {
  associate,
  ContextResult,
  implicitText,
  pdataTf,
  readCommand,
  release,
  type RoleSelection,
  studyGet,
} from "../support/pdu.ts";

const IMPLICIT = TransferSyntax.ImplicitVRLittleEndian;
const SOP = "1.2.826.0.1.3680043.10.1011.77";
/** A data set holding only its SOP Instance UID, in implicit VR little endian. */
const DATASET = implicitText(0x00080018, SOP);

/** Every identifier names one CT object. */
const retrieve: RetrieveHandler = {
  locate: () =>
    Promise.resolve([
      {
        sopClassUid: SopClass.CtImage,
        sopInstanceUid: SOP,
        transferSyntax: IMPLICIT,
        datasetSize: DATASET.length,
        openDataset: () => Promise.resolve(memorySource(DATASET)),
      } satisfies OutgoingObject,
    ]),
  destination: () => undefined,
};

/** Sends a C-GET-RQ for a study on context 1 and returns the command field of the first answer. */
async function firstAnswerToGet(
  port: number,
  scpRoles: string[],
): Promise<{ field?: number; failed?: number }> {
  const { socket } = await associate(port, {
    calledAet: "ROLES",
    callingAet: "GETTER",
    contexts: [
      { id: 1, abstractSyntax: SopClass.StudyRootGet, transferSyntaxes: [IMPLICIT] },
      { id: 3, abstractSyntax: SopClass.CtImage, transferSyntaxes: [IMPLICIT] },
    ],
    scpRoles,
  });
  try {
    const { command, identifier } = studyGet("1.2.3.4");
    await socket.send(pdataTf([{ contextId: 1, command: true, last: true, value: command }]));
    await socket.send(pdataTf([{ contextId: 1, command: false, last: true, value: identifier }]));
    for (;;) {
      const answer = await readCommand(socket);
      if (answer.kind !== "command") return {};
      const field = answer.command.commandField;
      if (field === 0x8010 && answer.command.status === 0xff00) continue; // pending C-GET-RSP
      return { field, failed: answer.command.us(0x00001022) };
    }
  } finally {
    await socket.close();
  }
}

/**
 * The agent's SCP on a port the system picks (a port found free first could be taken before the listen by
 * another test's process: AddrInUse), its C-GETs answered by {@link retrieve}.
 */
async function rolesScp() {
  const scp = await startScp({
    host: "127.0.0.1",
    port: 0,
    aet: "ROLES",
    allowedCallingAets: ["*"],
    checkCalledAet: false,
    maxAssociations: 4,
    acceptAnySopClass: false,
    maxPduLength: 262144,
    idleTimeoutMs: 30_000,
    artimTimeoutMs: 5_000,
    log: new Logger({}, "error"),
    store: {} as never,
    query: {} as never,
    retrieve,
  });
  return { port: scp.port, close: () => scp.close() };
}

Deno.test("C-GET sends C-STOREs only for SOP classes the requestor offered the SCP role for", async () => {
  const { port, close } = await rolesScp();
  try {
    const offered = await firstAnswerToGet(port, [SopClass.CtImage]);
    assert.equal(offered.field, 0x0001, "a C-STORE-RQ where the requestor offered the SCP role");
    const notOffered = await firstAnswerToGet(port, []);
    assert.deepEqual(
      notOffered,
      { field: 0x8010, failed: 1 },
      "the final C-GET-RSP, its one sub-operation failed",
    );
  } finally {
    await close();
  }
});

Deno.test("the A-ASSOCIATE-AC answers each role selection with the roles the agent accepts, not as proposed", async () => {
  const { port, close } = await rolesScp();
  const both = (uid: string): RoleSelection => ({ uid, scu: true, scp: true });
  const roles = async (contexts: [number, string][], proposed: RoleSelection[]) => {
    const { socket, ac } = await associate(port, {
      calledAet: "ROLES",
      callingAet: "ROLER",
      contexts: contexts.map(([id, abstractSyntax]) => ({
        id,
        abstractSyntax,
        transferSyntaxes: [IMPLICIT],
      })),
      roles: proposed,
    });
    await release(socket);
    return { roles: ac.roles, results: ac.contexts.map((c) => [c.id, c.result]) };
  };
  try {
    // A storage association: the agent never sends a C-STORE on it, so the requestor is no storage SCP; an
    // offer to be only that leaves nothing to do with the SOP class, whose context is refused.
    const storing = await roles(
      [[1, SopClass.Verification], [3, SopClass.CtImage], [5, SopClass.MrImage]],
      [both(SopClass.Verification), both(SopClass.CtImage), { uid: SopClass.MrImage, scu: false, scp: true }],
    );
    assert.deepEqual(storing.roles, [
      { uid: SopClass.Verification, scu: true, scp: false },
      { uid: SopClass.CtImage, scu: true, scp: false },
    ]);
    assert.deepEqual(storing.results, [[1, ContextResult.Acceptance], [3, ContextResult.Acceptance], [
      5,
      ContextResult.UserRejection,
    ]]);
    // With a C-GET accepted, the storage SCP role is the requestor's to take; the C-GET's own is SCU only.
    const getting = await roles(
      [[1, SopClass.StudyRootGet], [3, SopClass.CtImage]],
      [both(SopClass.StudyRootGet), { uid: SopClass.CtImage, scu: false, scp: true }],
    );
    assert.deepEqual(getting.roles, [
      { uid: SopClass.StudyRootGet, scu: true, scp: false },
      { uid: SopClass.CtImage, scu: false, scp: true },
    ]);
    assert.deepEqual(getting.results, [[1, ContextResult.Acceptance], [3, ContextResult.Acceptance]]);
  } finally {
    await close();
  }
});
