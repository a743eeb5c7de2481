// deno-lint-ignore-file no-explicit-any
/**
 * The SCP's association policy (PS3.8 9.3.2, PS3.7 D.3.3): which calling and called AE titles are
 * welcome, how many associations at once, and for each proposed presentation context whether it is
 * accepted and with which transfer syntax.
 */
import { isPrivateUid, isStorageSopClass, SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { constants } from "./_library.ts";
import type { QueryModel } from "./handlers.ts";
import { DICOM_APPLICATION_CONTEXT } from "./associate_rq.ts";

/** Why an association whose calling AE title `allowedCallingAets` does not name is rejected. */
export const CALLING_NOT_ALLOWED = "calling AE title not allowed";

export const QR_FIND: Record<string, QueryModel> = {
  [SopClass.PatientRootFind]: "patient",
  [SopClass.StudyRootFind]: "study",
};
export const QR_MOVE: Record<string, QueryModel> = {
  [SopClass.PatientRootMove]: "patient",
  [SopClass.StudyRootMove]: "study",
};
export const QR_GET: Record<string, QueryModel> = {
  [SopClass.PatientRootGet]: "patient",
  [SopClass.StudyRootGet]: "study",
};

/**
 * Uncompressed syntaxes in the order we prefer them within one presentation context: the order of
 * DCMTK's storescp (explicit little, explicit big, implicit), so a sender offering several makes the
 * same choice with us as with storescp. Any other offered syntax is accepted as it is.
 */
const PREFERRED_SYNTAXES: string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];
const COMMAND_SYNTAXES = [TransferSyntax.ImplicitVRLittleEndian, TransferSyntax.ExplicitVRLittleEndian];
/** An AE title as the library reads it (trimmed): printable ASCII without backslash (PS3.5 6.2, AE). */
const AE_TITLE = /^[\x20-\x5b\x5d-\x7e]*$/;

/** What the policy needs of the SCP's options. */
export interface NegotiationPolicy {
  aet: string;
  allowedCallingAets: string[];
  checkCalledAet: boolean;
  acceptAnySopClass: boolean;
  /** Accept the Storage Commitment Push Model SOP Class (the SCP has a commitment handler). */
  storageCommitment?: boolean;
  /**
   * A node may send the reports on the agent's own Storage Commitment requests on an association it opens,
   * in the SCP role for Storage Commitment (PS3.4 J.3.3) if it selects roles.
   */
  commitmentReports?: boolean;
  /**
   * Operations a requestor may have outstanding at once when it proposes an Asynchronous Operations
   * Window (PS3.7 D.3.3.3); 1 answers every proposal with no window.
   */
  maxOpsPerformed?: number;
  /**
   * Operations we invoke on the requestor before its responses (a C-GET's C-STORE sub-operations), at
   * most what it proposed to perform; 1 invokes one at a time.
   */
  maxOpsInvoked?: number;
}

/**
 * The smallest Maximum Length Received (other than 0, no limit) the agent works with: a command set goes out
 * in one PDV (a few hundred bytes at most), and a data set is cut into PDVs of the peer's maximum less 6
 * bytes, so a smaller one either cannot be honoured or, at 6 and below, carries no data at all.
 */
export const MIN_PEER_MAX_PDU = 1024;

/** True when a peer's announced maximum PDU length (0: no limit) is one the agent can send within. */
export function peerMaxPduUsable(maxPduLength: number): boolean {
  return maxPduLength === 0 || maxPduLength >= MIN_PEER_MAX_PDU;
}

/**
 * What an A-ASSOCIATE-RQ names: AE titles (trimmed), Application Context Name (undefined: none) and the
 * Protocol Version bits.
 */
export interface Proposal {
  calling: string;
  called: string;
  context: string | undefined;
  protocolVersion: number;
  /** The Presentation Context IDs as proposed (the library renumbers a repeated one). */
  contextIds: number[];
}

/** A refusal: A-ASSOCIATE-RJ result, source and reason, and why in words (for the log). */
export type Refusal = [result: number, source: number, reason: number, why: string];

/**
 * Decides an A-ASSOCIATE-RQ: a refusal, or undefined with every presentation context's result set on
 * `association` (the library then answers with them).
 */
export function negotiate(
  association: any,
  o: NegotiationPolicy,
  { calling, called, context, protocolVersion, contextIds }: Proposal,
  full: boolean,
): Refusal | undefined {
  const { RejectResult, RejectSource } = constants;
  // PS3.8 9.3.2: version 1 is bit 0, the only version; a requestor without it is refused as DCMTK does.
  if ((protocolVersion & 1) === 0) {
    return [
      RejectResult.Permanent,
      RejectSource.ServiceProviderAcse,
      2,
      `protocol version 0x${protocolVersion.toString(16)} not supported`,
    ];
  }
  // Garbage behind an A-ASSOCIATE-RQ header parses into binary AE titles and no presentation context:
  // refuse it rather than hold an association open for it.
  if (!AE_TITLE.test(called)) {
    return [RejectResult.Permanent, RejectSource.ServiceUser, 7, "called AE title malformed"];
  }
  if (!AE_TITLE.test(calling)) {
    return [RejectResult.Permanent, RejectSource.ServiceUser, 3, "calling AE title malformed"];
  }
  // PS3.8 7.1.1.2: DICOM has one application context; another (or none) is reason 2, as DCMTK's storescp.
  if (context !== DICOM_APPLICATION_CONTEXT) {
    return [
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      2,
      `application context name ${JSON.stringify((context ?? "").slice(0, 64))} not supported`,
    ];
  }
  if (association.getPresentationContexts().length === 0) {
    return [RejectResult.Permanent, RejectSource.ServiceUser, 1, "no presentation context proposed"];
  }
  // PS3.8 9.3.2.2: each presentation context has its own ID; the A-ASSOCIATE-AC answers each by it.
  const repeated = contextIds.find((id, i) => contextIds.indexOf(id) !== i);
  if (repeated !== undefined) {
    return [
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      1,
      `presentation context ID ${repeated} proposed twice`,
    ];
  }
  const peerMax = Number(association.getMaxPduLength());
  if (!peerMaxPduUsable(peerMax)) {
    return [
      RejectResult.Permanent,
      RejectSource.ServiceUser,
      1,
      `maximum PDU length ${peerMax} below ${MIN_PEER_MAX_PDU}`,
    ];
  }
  if (o.checkCalledAet && called !== o.aet) {
    return [RejectResult.Permanent, RejectSource.ServiceUser, 7, "called AE title not recognised"];
  }
  if (!o.allowedCallingAets.includes("*") && !o.allowedCallingAets.includes(calling)) {
    return [RejectResult.Permanent, RejectSource.ServiceUser, 3, CALLING_NOT_ALLOWED];
  }
  if (full) {
    // PS3.8 7.1.1.9: service provider (presentation), local limit exceeded, transient
    return [RejectResult.Transient, RejectSource.ServiceProviderPresentation, 2, "too many associations"];
  }
  const { PresentationContextResult } = constants;
  for (const pc of association.getPresentationContexts()) {
    const context = association.getPresentationContext(pc.id);
    const abstract: string = context.getAbstractSyntaxUid();
    const offered: string[] = context.getTransferSyntaxUids();
    let accepted: string | undefined;
    if (
      abstract === SopClass.Verification || QR_FIND[abstract] || QR_MOVE[abstract] || QR_GET[abstract] ||
      (o.storageCommitment && abstract === SopClass.StorageCommitmentPushModel)
    ) {
      accepted = COMMAND_SYNTAXES.find((ts) => offered.includes(ts));
      if (!accepted) {
        context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        continue;
      }
    } else if (isStorageSopClass(abstract) || (o.acceptAnySopClass && isPrivateUid(abstract))) {
      accepted = PREFERRED_SYNTAXES.find((ts) => offered.includes(ts)) ?? offered[0];
      if (!accepted) {
        // A storage context that offers no transfer syntax at all (a malformed proposal).
        context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        continue;
      }
    }
    if (!accepted) {
      context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      continue;
    }
    context.setResult(PresentationContextResult.Accept, accepted);
  }
  answerRoles(association, o);
  answerWindow(association, o.maxOpsPerformed ?? 1, o.maxOpsInvoked ?? 1);
  return undefined;
}

/**
 * Answers the SCP/SCU Role Selection items (PS3.7 D.3.3.4) with the roles the agent accepts, not as they were
 * proposed (the library echoes what it read; it sets the roles on the first context of each SOP class): the
 * requestor may be the SCU of what the agent serves; it may be the SCP only of a storage SOP class on an
 * association that also accepted a C-GET (the agent sends its sub-operations there), and of Storage Commitment
 * when nodes' reports on the agent's requests are taken. A SOP class left with neither role has its contexts refused (user rejection),
 * and a SOP class whose contexts were all refused gets no item.
 */
function answerRoles(association: any, o: NegotiationPolicy): void {
  const { PresentationContextResult } = constants;
  const contexts: any[] = association.getPresentationContexts().map((pc: { id: number }) =>
    association.getPresentationContext(pc.id)
  );
  const accepted = (c: any) => c.getResult() === PresentationContextResult.Accept;
  const getAccepted = contexts.some((c) => QR_GET[c.getAbstractSyntaxUid()] && accepted(c));
  for (const proposed of contexts) {
    if (proposed.getUserRole() === undefined && proposed.getProviderRole() === undefined) continue;
    const abstract: string = proposed.getAbstractSyntaxUid();
    const same = contexts.filter((c) => c.getAbstractSyntaxUid() === abstract);
    // Every SOP class accepted is one the agent serves: the requestor may be its SCU (a node sending Storage
    // Commitment reports as the SCU of its N-EVENT-REPORTs too, as docs/conformance.md section 16 says).
    const scu = proposed.getUserRole() === true;
    const scp = proposed.getProviderRole() === true &&
      (abstract === SopClass.StorageCommitmentPushModel
        ? o.commitmentReports === true
        : getAccepted && isStorage(abstract, o));
    if (!scu && !scp) {
      for (const c of same) if (accepted(c)) c.setResult(PresentationContextResult.RejectUser);
    }
    if (!same.some(accepted)) {
      proposed.setUserRole(undefined);
      proposed.setProviderRole(undefined);
      continue;
    }
    proposed.setUserRole(scu);
    proposed.setProviderRole(scp);
  }
}

/** A SOP class the agent stores (and so may send back as a C-GET's sub-operation). */
function isStorage(abstract: string, o: NegotiationPolicy): boolean {
  return isStorageSopClass(abstract) || (o.acceptAnySopClass && isPrivateUid(abstract));
}

/**
 * Sets the Asynchronous Operations Window the A-ASSOCIATE-AC carries (the library writes what the request
 * had): the requestor may invoke at most `invokedLimit` and perform at most `performedLimit` (each at most
 * what it proposed; 0 there is no limit). A window of 1 and 1 is sent as none (the default).
 */
function answerWindow(association: any, invokedLimit: number, performedLimit: number): void {
  if (!association.getNegotiateAsyncOps()) return;
  const within = (asked: number, limit: number) => Math.max(1, asked === 0 ? limit : Math.min(asked, limit));
  const invoked = within(Number(association.getMaxAsyncOpsInvoked()), invokedLimit);
  const performed = within(Number(association.getMaxAsyncOpsPerformed()), performedLimit);
  association.setMaxAsyncOpsInvoked(invoked);
  association.setMaxAsyncOpsPerformed(performed);
  association.setNegotiateAsyncOps(invoked > 1 || performed > 1);
}

/**
 * The C-STORE sub-operations of a C-GET we may have outstanding on a negotiated association: the window's
 * maximum performed by the requestor as we answered it (1 without a window).
 */
export function getWindow(association: any): number {
  if (!association.getNegotiateAsyncOps()) return 1;
  return Math.max(1, Number(association.getMaxAsyncOpsPerformed()) || 1);
}
