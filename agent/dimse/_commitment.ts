// deno-lint-ignore-file no-explicit-any
/**
 * The wire side of the Storage Commitment Push Model (PS3.4 J.3): an N-ACTION-RQ read and checked into a
 * CommitmentRequest (or a DimseStatusError naming the N-ACTION-RSP status), and the N-EVENT-REPORT-RQ that
 * carries a report, sent on an association and answered. Whether an instance is committed is job logic
 * (agent/commitment), not decided here.
 */
import { SopClass } from "@conduit/shared/dicom";
import { Dataset, requests } from "./_library.ts";
import {
  type AssociationInfo,
  type CommitmentReference,
  type CommitmentReport,
  type CommitmentRequest,
  DimseStatusError,
  Status,
} from "./handlers.ts";

/** Action Type ID of "Request Storage Commitment" (PS3.4 J.3.2.1.1). */
export const REQUEST_COMMITMENT = 1;
/** Event Type IDs of the report (PS3.4 J.3.3.1.1): every instance committed, or some failed. */
export const EVENT_ALL_COMMITTED = 1;
export const EVENT_SOME_FAILED = 2;

const UID = /^[0-9]+(\.[0-9]+)*$/;

function text(v: unknown): string {
  if (Array.isArray(v)) v = v[0];
  return typeof v === "string" ? v.replace(/\0/g, "").trim() : "";
}

function isUid(v: string): boolean {
  return v.length > 0 && v.length <= 64 && UID.test(v);
}

/**
 * Reads an N-ACTION-RQ of the Storage Commitment Push Model. Throws DimseStatusError with the N-ACTION-RSP
 * status (PS3.7 10.1.4.1.10) when it is not one: 0x0118 another SOP class, 0x0112 another SOP instance than
 * the well-known one, 0x0123 another action type, 0x0115 Action Information without a Transaction UID, or
 * without a Referenced SOP Sequence, or with an item that lacks either UID (or holds one that is not a UID).
 */
export function readCommitmentRequest(request: any, info: AssociationInfo): CommitmentRequest {
  const command = request.getCommandDataset();
  const requestedClass = text(command.getElement("RequestedSOPClassUID"));
  if (requestedClass !== SopClass.StorageCommitmentPushModel) {
    throw new DimseStatusError(Status.NoSuchSopClass, "not the Storage Commitment Push Model SOP Class");
  }
  const requestedInstance = text(command.getElement("RequestedSOPInstanceUID"));
  if (requestedInstance !== SopClass.StorageCommitmentPushModelInstance) {
    throw new DimseStatusError(
      Status.NoSuchObjectInstance,
      "not the well-known Storage Commitment SOP Instance",
    );
  }
  const actionType = Number(command.getElement("ActionTypeID"));
  if (actionType !== REQUEST_COMMITMENT) {
    throw new DimseStatusError(Status.NoSuchActionType, `no action type ${actionType}`);
  }
  const dataset = request.getDataset?.();
  const elements = dataset?.getElements?.();
  if (!elements || typeof elements !== "object") {
    throw new DimseStatusError(Status.InvalidArgumentValue, "no Action Information");
  }
  const transactionUid = text(elements.TransactionUID);
  if (!transactionUid) throw new DimseStatusError(Status.InvalidArgumentValue, "no Transaction UID");
  if (!isUid(transactionUid)) {
    throw new DimseStatusError(Status.InvalidArgumentValue, "Transaction UID is not a UID");
  }
  const sequence = elements.ReferencedSOPSequence;
  const items: any[] = Array.isArray(sequence) ? sequence : sequence ? [sequence] : [];
  if (items.length === 0) {
    throw new DimseStatusError(Status.InvalidArgumentValue, "no Referenced SOP Sequence");
  }
  const references: CommitmentReference[] = [];
  for (const item of items) {
    const sopClassUid = text(item?.ReferencedSOPClassUID);
    const sopInstanceUid = text(item?.ReferencedSOPInstanceUID);
    if (!isUid(sopClassUid) || !isUid(sopInstanceUid)) {
      throw new DimseStatusError(
        Status.InvalidArgumentValue,
        "a Referenced SOP Sequence item without a valid SOP Class or Instance UID",
      );
    }
    references.push({ sopClassUid, sopInstanceUid });
  }
  return { transactionUid, references, requesterAet: info.callingAet, calledAet: info.calledAet };
}

/** The N-EVENT-REPORT-RQ that carries a report (PS3.4 J.3.3.1). */
export function eventReportRequest(report: CommitmentReport): any {
  const eventType = report.failed.length ? EVENT_SOME_FAILED : EVENT_ALL_COMMITTED;
  const request = new requests.NEventReportRequest(
    SopClass.StorageCommitmentPushModel,
    SopClass.StorageCommitmentPushModelInstance,
    eventType,
  );
  const elements: Record<string, unknown> = { TransactionUID: report.transactionUid };
  if (report.retrieveAet && report.committed.length) elements.RetrieveAETitle = report.retrieveAet;
  if (report.committed.length) {
    elements.ReferencedSOPSequence = report.committed.map((r) => ({
      ReferencedSOPClassUID: r.sopClassUid,
      ReferencedSOPInstanceUID: r.sopInstanceUid,
    }));
  }
  if (report.failed.length) {
    elements.FailedSOPSequence = report.failed.map((r) => ({
      ReferencedSOPClassUID: r.sopClassUid,
      ReferencedSOPInstanceUID: r.sopInstanceUid,
      FailureReason: r.reason,
    }));
  }
  request.setDataset(new Dataset(elements));
  return request;
}

/** What `sendEventReport` needs of an association: its socket, and a way to send a request (the library's). */
interface RequestNetwork {
  socket: { once(event: "close", fn: () => void): unknown; off(event: "close", fn: () => void): unknown };
  sendRequests(request: any): void;
  /** Why the association closed before `what` (the timer that aborted it, if one did); see `_network.ts`. */
  closedBefore?(what: string): string;
}

/** A report the requester's association did not answer: closed first (often a requester that released at once), or silent. */
export class ReportUnansweredError extends Error {
  override name = "ReportUnansweredError";
}

/**
 * Sends a report on an association and resolves with the status of its N-EVENT-REPORT-RSP; rejects when no
 * response comes within `timeoutMs` or the association closes first.
 */
export function sendEventReport(
  network: RequestNetwork,
  report: CommitmentReport,
  timeoutMs: number,
): Promise<number> {
  const request = eventReportRequest(report);
  return new Promise((resolve, reject) => {
    const onClose = () => {
      cleanup();
      const what = "the N-EVENT-REPORT response";
      reject(new ReportUnansweredError(network.closedBefore?.(what) ?? `association closed before ${what}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new ReportUnansweredError(`no N-EVENT-REPORT response within ${timeoutMs} ms`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      network.socket.off("close", onClose);
    };
    network.socket.once("close", onClose);
    request.on("response", (rsp: any) => {
      cleanup();
      try {
        resolve(Number(rsp.getStatus()));
      } catch (err) {
        reject(err);
      }
    });
    try {
      network.sendRequests(request);
    } catch (err) {
      cleanup();
      reject(err);
    }
  });
}

/** The N-ACTION-RQ that asks a node for Storage Commitment of `references` (PS3.4 J.3.2.1). */
export function commitmentActionRequest(transactionUid: string, references: CommitmentReference[]): any {
  const request = new requests.NActionRequest(
    SopClass.StorageCommitmentPushModel,
    SopClass.StorageCommitmentPushModelInstance,
    REQUEST_COMMITMENT,
  );
  request.setDataset(
    new Dataset({
      TransactionUID: transactionUid,
      ReferencedSOPSequence: references.map((r) => ({
        ReferencedSOPClassUID: r.sopClassUid,
        ReferencedSOPInstanceUID: r.sopInstanceUid,
      })),
    }),
  );
  return request;
}

/**
 * Reads an N-EVENT-REPORT-RQ of the Storage Commitment Push Model (a report on a request of ours). Throws
 * DimseStatusError with the N-EVENT-REPORT-RSP status when it is not one: 0x0118 another SOP class, 0x0112
 * another instance, 0x0113 another event type, 0x0115 no Transaction UID. Items without valid UIDs are
 * skipped (what they name stays awaiting commitment and is asked again).
 */
export function readCommitmentReport(request: any): CommitmentReport {
  const command = request.getCommandDataset();
  const affectedClass = text(command.getElement("AffectedSOPClassUID"));
  if (affectedClass !== SopClass.StorageCommitmentPushModel) {
    throw new DimseStatusError(Status.NoSuchSopClass, "not the Storage Commitment Push Model SOP Class");
  }
  const affectedInstance = text(command.getElement("AffectedSOPInstanceUID"));
  if (affectedInstance !== SopClass.StorageCommitmentPushModelInstance) {
    throw new DimseStatusError(
      Status.NoSuchObjectInstance,
      "not the well-known Storage Commitment SOP Instance",
    );
  }
  const eventType = Number(command.getElement("EventTypeID"));
  if (eventType !== EVENT_ALL_COMMITTED && eventType !== EVENT_SOME_FAILED) {
    throw new DimseStatusError(Status.NoSuchEventType, `no event type ${eventType}`);
  }
  const elements = request.getDataset?.()?.getElements?.();
  const transactionUid = text(elements?.TransactionUID);
  if (!isUid(transactionUid)) throw new DimseStatusError(Status.InvalidArgumentValue, "no Transaction UID");
  const items = (v: unknown): any[] => Array.isArray(v) ? v : v ? [v] : [];
  const committed: CommitmentReference[] = [];
  for (const item of items(elements.ReferencedSOPSequence)) {
    const sopClassUid = text(item?.ReferencedSOPClassUID);
    const sopInstanceUid = text(item?.ReferencedSOPInstanceUID);
    if (isUid(sopClassUid) && isUid(sopInstanceUid)) committed.push({ sopClassUid, sopInstanceUid });
  }
  const failed: CommitmentReport["failed"] = [];
  for (const item of items(elements.FailedSOPSequence)) {
    const sopClassUid = text(item?.ReferencedSOPClassUID);
    const sopInstanceUid = text(item?.ReferencedSOPInstanceUID);
    const reason = Number(Array.isArray(item?.FailureReason) ? item.FailureReason[0] : item?.FailureReason);
    if (isUid(sopClassUid) && isUid(sopInstanceUid)) {
      failed.push({ sopClassUid, sopInstanceUid, reason: Number.isFinite(reason) ? reason : 0x0110 });
    }
  }
  const retrieveAet = text(elements.RetrieveAETitle);
  return { transactionUid, committed, failed, ...(retrieveAet ? { retrieveAet } : {}) };
}
