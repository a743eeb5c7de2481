/** The presentation contexts an SCU association proposes, from what it will do on it. */
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { Association } from "./_library.ts";
import type { QueryModel } from "./handlers.ts";
import { FALLBACK_SYNTAXES, reencodeTargets } from "./_reencode.ts";

import { MAX_CONTEXTS } from "./contexts.ts";
export { MAX_CONTEXTS, storageGroups } from "./contexts.ts";

/** What to negotiate. */
export interface ContextsWanted {
  echo?: boolean;
  find?: QueryModel[];
  move?: QueryModel[];
  /**
   * C-GET models, and the storage contexts we accept objects back on (SCP role): one per entry, each SOP
   * class as often as listed with different syntaxes (the node accepts one syntax per context).
   */
  get?: { models: QueryModel[]; storage: { sopClassUid: string; transferSyntaxes?: string[] }[] };
  /**
   * Objects we will send: one context per (SOP class, transfer syntax), exactly as stored; then, while fewer
   * than 128 contexts, one per SOP class stored in Implicit or Explicit VR Little Endian offering both.
   */
  storage?: { sopClassUid: string; transferSyntax: string }[];
  /**
   * Storage Commitment Push Model in the SCP role (SCP/SCU Role Selection, PS3.4 J.3.3): a report sent on an
   * association we open to the requester.
   */
  commitment?: boolean;
  /**
   * Storage Commitment Push Model in the default role (we are its SCU): N-ACTION requests for commitment of
   * what we sent, the report coming back on this association or on one the node opens to us.
   */
  commitmentRequest?: boolean;
}

export const FIND: Record<QueryModel, string> = {
  patient: SopClass.PatientRootFind,
  study: SopClass.StudyRootFind,
};
export const MOVE: Record<QueryModel, string> = {
  patient: SopClass.PatientRootMove,
  study: SopClass.StudyRootMove,
};
export const GET: Record<QueryModel, string> = {
  patient: SopClass.PatientRootGet,
  study: SopClass.StudyRootGet,
};
const UNCOMPRESSED = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
];

/** An A-ASSOCIATE-RQ from `callingAet` to `calledAet` proposing one context per wanted service. */
export function proposal(
  callingAet: string,
  calledAet: string,
  maxPduLength: number,
  wanted: ContextsWanted,
  /**
   * Operations we may invoke before their responses (PS3.7 D.3.3.3): above 1 (or `performOps` above 1),
   * an Asynchronous Operations Window is proposed with it as the maximum invoked.
   */
  asyncOps = 1,
  /**
   * Operations the peer may invoke on us before our responses, the window's maximum performed: the C-STORE
   * sub-operations of a C-GET, which come back on this association.
   */
  performOps = 1,
  // deno-lint-ignore no-explicit-any
): any {
  const association = new Association(callingAet, calledAet);
  association.setMaxPduLength(maxPduLength);
  if (asyncOps > 1 || performOps > 1) {
    association.setNegotiateAsyncOps(true);
    association.setMaxAsyncOpsInvoked(asyncOps);
    association.setMaxAsyncOpsPerformed(performOps);
  }
  const roles = new Set<string>();
  const add = (abstract: string, syntaxes: string[], scpRole = false) => {
    const pcId = association.addPresentationContext(abstract);
    for (const ts of syntaxes) association.addTransferSyntaxToPresentationContext(pcId, ts);
    // One SCP/SCU Role Selection item per SOP class (PS3.7 D.3.3.4), however many contexts it has: the
    // library writes one for each context with a role set.
    if (scpRole && !roles.has(abstract)) {
      roles.add(abstract);
      const pc = association.getPresentationContext(pcId);
      pc.setUserRole(false);
      pc.setProviderRole(true);
    }
  };
  const commandSyntaxes = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian];
  if (wanted.echo) add(SopClass.Verification, commandSyntaxes);
  if (wanted.commitment) add(SopClass.StorageCommitmentPushModel, commandSyntaxes, true);
  else if (wanted.commitmentRequest) add(SopClass.StorageCommitmentPushModel, commandSyntaxes);
  for (const m of wanted.find ?? []) add(FIND[m], commandSyntaxes);
  for (const m of wanted.move ?? []) add(MOVE[m], commandSyntaxes);
  for (const m of wanted.get?.models ?? []) add(GET[m], commandSyntaxes);
  const seenStorage = new Set<string>();
  for (const s of wanted.get?.storage ?? []) {
    const syntaxes = s.transferSyntaxes ?? UNCOMPRESSED;
    const key = `${s.sopClassUid}|${syntaxes.join(",")}`;
    if (seenStorage.has(key)) continue;
    seenStorage.add(key);
    add(s.sopClassUid, syntaxes, true);
  }
  const pairs = new Set<string>();
  const fallbacks = new Set<string>();
  for (const s of wanted.storage ?? []) {
    const key = `${s.sopClassUid}|${s.transferSyntax}`;
    if (pairs.has(key)) continue;
    pairs.add(key);
    add(s.sopClassUid, [s.transferSyntax]);
    if (reencodeTargets(s.transferSyntax).length) fallbacks.add(s.sopClassUid);
  }
  // Then, room permitting, one context per SOP class stored in Implicit or Explicit VR Little Endian that
  // offers both: a peer that refuses the stored syntax still gets the object, in the other one (_reencode.ts).
  for (const sopClassUid of fallbacks) {
    if (association.getPresentationContexts().length >= MAX_CONTEXTS) break;
    add(sopClassUid, FALLBACK_SYNTAXES);
  }
  return association;
}
