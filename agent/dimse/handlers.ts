/**
 * The narrow interfaces between the DIMSE wire layer and the agent's job logic. The wire layer
 * turns every outcome into a DIMSE status; job logic never sees the library.
 */
import type { Writable } from "node:stream";
import type { TlsClientMaterial } from "./tls.ts";

/** Who is on the other end of an association. */
export interface AssociationInfo {
  callingAet: string;
  calledAet: string;
  remoteAddress: string;
}

/** A failure with the DIMSE status to answer. */
export class DimseStatusError extends Error {
  override name = "DimseStatusError";
  constructor(public readonly status: number, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface StoreContext {
  association: AssociationInfo;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntax: string;
}

export interface StoreOutcome {
  status: number;
  comment?: string;
  /**
   * Other bytes than the archived ones under a known SOP Instance UID, not archived in place of them by the
   * duplicates policy: what is sent on from the archive is the first object, not this one.
   */
  keptFirst?: boolean;
}

/**
 * Where an incoming C-STORE's data set goes: the wire layer writes the bytes of its P-DATA PDVs, in order
 * and as they arrive, then ends the stream; the sink is durable once it has emitted `finish`.
 */
export interface StoreSink extends Writable {
  /** The first write error, if any (a sink keeps taking bytes so that the association stays in step). */
  readonly failure: Error | undefined;
  /** Set once the sink has finished without failure: the size of what it holds. */
  readonly received: { fileSize: number } | undefined;
  /** Removes what was written (after an abort, or when the object is refused). */
  discard(): void;
}

/** Receives C-STORE payloads (from a peer's C-STORE, or a C-GET we asked for). */
export interface StoreHandler<S extends StoreSink = StoreSink> {
  /** A sink for an incoming object; throw DimseStatusError to refuse it unread. */
  open(ctx: StoreContext): S;
  /** The sink has finished: keep the object, or refuse it with a status. */
  commit(sink: S, ctx: StoreContext): Promise<StoreOutcome>;
  /** Resolves once what was answered Success is fully committed (an association's release waits). */
  settled?(): Promise<void>;
}

/** Reads a stored data set at positions (0 is its first byte). */
export interface DatasetReader {
  /** Reads into `into` from `position`; resolves with the count read (fewer only at the end). */
  read(into: Uint8Array, position: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * A stored object the wire layer sends: its data set as stored, or re-encoded between Implicit and Explicit
 * VR Little Endian when the peer accepted only the other (_reencode.ts).
 */
export interface OutgoingObject {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntax: string;
  /** Bytes of the data set (after the File Meta group). */
  datasetSize: number;
  /** Opens the data set for reading; throws when the stored object is not what it should be. */
  openDataset(): Promise<DatasetReader>;
}

/** A naturalized identifier (dcmjs keyword form) as it travels in C-FIND/C-MOVE/C-GET. */
export type Identifier = Record<string, unknown>;

export type QueryModel = "patient" | "study";

export interface QueryHandler {
  /**
   * Streams the matches for an identifier, each holding the requested keys; with `page.offset`, from the match
   * after that many (the site's QIDO-RS pages: a C-FIND asks none).
   */
  find(
    model: QueryModel,
    identifier: Identifier,
    signal: AbortSignal,
    page?: { offset?: number },
  ): AsyncIterable<Identifier>;
}

export interface RetrieveHandler {
  /** The stored objects a C-MOVE/C-GET identifier names. */
  locate(model: QueryModel, identifier: Identifier, signal: AbortSignal): Promise<OutgoingObject[]>;
  /** Where a C-MOVE destination AE title lives; undefined when unknown (0xA801). */
  destination(aet: string): NodeAddress | undefined;
}

/** An instance a Storage Commitment request names (an item of its Referenced SOP Sequence). */
export interface CommitmentReference {
  sopClassUid: string;
  sopInstanceUid: string;
}

/** A Storage Commitment request (N-ACTION, PS3.4 J.3.2) as the requester sent it. */
export interface CommitmentRequest {
  transactionUid: string;
  references: CommitmentReference[];
  /** The requester's AE title (the calling AE title of the N-ACTION's association). */
  requesterAet: string;
  /** Our AE title as the requester called it. */
  calledAet: string;
}

/** The outcome of a Storage Commitment request: what the N-EVENT-REPORT carries (PS3.4 J.3.3). */
export interface CommitmentReport {
  transactionUid: string;
  committed: CommitmentReference[];
  /** Failure Reason (0008,1197): 0x0110, 0x0112, 0x0119... */
  failed: (CommitmentReference & { reason: number })[];
  /** Retrieve AE Title (0008,0054): where the committed instances can be retrieved (the agent's AE title). */
  retrieveAet?: string;
}

/**
 * The Storage Commitment SCP's job logic. The wire layer checks an N-ACTION, has it recorded (`accept`),
 * answers it, asks for the decision (`decide`), and sends the report on the requester's association while it
 * is open; `reported` then forgets the request. When the association is gone (or the report could not go on
 * it), `deliverLater` takes over: a new association to the requester.
 */
export interface CommitmentHandler {
  /** Records a request before it is answered Success; throw DimseStatusError to refuse it. */
  accept(request: CommitmentRequest): Promise<void>;
  /** Decides each referenced instance: committed, or failed with its reason. */
  decide(request: CommitmentRequest): Promise<CommitmentReport>;
  /** The report went out and was answered on the requester's association. */
  reported(request: CommitmentRequest, report: CommitmentReport, status: number): void;
  /** The report could not go on the requester's association: send it on a new one. */
  deliverLater(request: CommitmentRequest, report: CommitmentReport | undefined): void;
}

/**
 * The Storage Commitment SCU's job logic: a report (N-EVENT-REPORT) on a request the agent made, arriving on
 * the association the request went on or on a new one the node opened to the agent's SCP. Resolves once the
 * report is recorded (the N-EVENT-REPORT is answered Success then); throw DimseStatusError to refuse it.
 */
export interface CommitmentReportHandler {
  received(report: CommitmentReport, from: AssociationInfo): Promise<void>;
}

/** Failure Reasons of a Storage Commitment report (PS3.4 J.3.3.1.1, (0008,1197)). */
export const FailureReason = {
  ProcessingFailure: 0x0110,
  NoSuchObjectInstance: 0x0112,
  ResourceLimitation: 0x0213,
  ReferencedSopClassNotSupported: 0x0122,
  ClassInstanceConflict: 0x0119,
  DuplicateTransactionUid: 0x0131,
} as const;

/** A node we talk to as an SCU. */
export interface NodeAddress {
  aet: string;
  host: string;
  port: number;
  /** Connect over TLS with these settings (PS3.15 B.1). */
  tls?: TlsClientMaterial;
  /** C-STOREs sent to it before their responses, as far as it grants a window (nodes' maxOpsInvoked). */
  maxOpsInvoked?: number;
}

/** A DIMSE status as logs and metrics show it: `0xA700`. */
export function statusHex(status: number): string {
  return "0x" + status.toString(16).padStart(4, "0").toUpperCase();
}

export const Status = {
  Success: 0x0000,
  Pending: 0xff00,
  PendingWarning: 0xff01,
  Cancel: 0xfe00,
  Warning: 0xb000,
  OutOfResources: 0xa700,
  OutOfResourcesMatches: 0xa701,
  OutOfResourcesSubOps: 0xa702,
  MoveDestinationUnknown: 0xa801,
  DataSetMismatch: 0xa900,
  CannotUnderstand: 0xc000,
  UnableToProcess: 0xc001,
  SopClassNotSupported: 0x0122,
  NotAuthorized: 0x0124,
  ProcessingFailure: 0x0110,
  // DIMSE-N (PS3.7 10.1.4.1.10, N-ACTION)
  NoSuchObjectInstance: 0x0112,
  InvalidArgumentValue: 0x0115,
  InvalidObjectInstance: 0x0117,
  NoSuchSopClass: 0x0118,
  NoSuchActionType: 0x0123,
  // DIMSE-N (PS3.7 10.1.1.1.8, N-EVENT-REPORT)
  NoSuchEventType: 0x0113,
} as const;

/**
 * A warning status (PS3.7 C.4): 0x0001, 0x0107 (attribute list error), 0x0116 (attribute value out of
 * range) or 0xBxxx. A C-STORE answered with one was stored, as one answered Success.
 */
export function isWarning(status: number): boolean {
  return status === 0x0001 || status === 0x0107 || status === 0x0116 || (status & 0xf000) === 0xb000;
}

/**
 * How an accepted association ended: released (A-RELEASE), aborted (by the peer's A-ABORT), closed
 * (the peer closed the connection without either), protocol-abort (we aborted on a protocol error),
 * timed-out (we aborted on the ARTIM or idle timer).
 */
export type AssociationEnd = "released" | "aborted" | "closed" | "protocol-abort" | "timed-out";

/** What the wire layer reports as it works (the metrics hook). */
export type DimseEvent =
  | { type: "association"; outcome: "accepted" | "rejected"; reason?: string }
  | { type: "ended"; outcome: AssociationEnd }
  | { type: "store"; status: number; bytes: number }
  | { type: "find" | "move" | "get"; status: number }
  /** An N-ACTION (Storage Commitment request) answered with `status`. */
  | { type: "commitment"; status: number }
  | { type: "protocol-error"; message: string }
  /** A TLS handshake on the SCP's TLS port failed (no or an untrusted client certificate, not TLS...). */
  | { type: "tls-refused" };
