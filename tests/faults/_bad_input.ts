/**
 * What the bad-input fault tests share (tests/faults/bad_input_test.ts, association_policy_test.ts,
 * full_disk_test.ts): the agents' short timeouts, the skip reason, and a storage association.
 */
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { skipReason, testFiles } from "../support/peers.ts";
import type { AgentProcess } from "../support/agent.ts";
import { associate, type ContextProposal } from "../support/pdu.ts";

export const EXPLICIT_LE = TransferSyntax.ExplicitVRLittleEndian;
export const IMPLICIT_LE = TransferSyntax.ImplicitVRLittleEndian;
/** The short timeouts of the agents here, so stalled peers are dropped within the test's budget. */
export const TIMEOUTS = { artimTimeoutSeconds: 2, idleTimeoutSeconds: 2 };
/** How long after its timeout the agent may take to drop a stalled peer. */
export const DROP_SLACK_MS = 2_500;

/** pydicom's CT_small.dcm, when installed. */
export const ctSmall = testFiles().pydicom.find((f) => f.endsWith("/CT_small.dcm"));
/** Why the bad-input tests cannot run here, or false; each file warns. */
export const skip = skipReason("echoscu", "storescu", "dcmodify") ||
  (ctSmall ? false : "needs pydicom's CT_small.dcm (apt-get install python3-pydicom)");

/** CT (explicit and implicit VR little endian) and MR storage contexts, ids 1, 3 and 5. */
export function storageContexts(): ContextProposal[] {
  return [
    { id: 1, abstractSyntax: SopClass.CtImage, transferSyntaxes: [EXPLICIT_LE] },
    { id: 3, abstractSyntax: SopClass.CtImage, transferSyntaxes: [IMPLICIT_LE] },
    { id: 5, abstractSyntax: SopClass.MrImage, transferSyntaxes: [EXPLICIT_LE] },
  ];
}

/** Associates as FAULTS with {@link storageContexts}. */
export function storageAssociation(agent: AgentProcess) {
  return associate(agent.port, { calledAet: agent.aet, callingAet: "FAULTS", contexts: storageContexts() });
}
