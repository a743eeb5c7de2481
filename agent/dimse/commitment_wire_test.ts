// deno-lint-ignore-file no-explicit-any
/** The Storage Commitment SCU's messages: the N-ACTION it sends, and the N-EVENT-REPORT it reads. */
import assert from "node:assert/strict";
import { SopClass } from "@conduit/shared/dicom";
import {
  commitmentActionRequest,
  eventReportRequest,
  readCommitmentReport,
  sendEventReport,
} from "./_commitment.ts";
import { DimseStatusError, Status } from "./handlers.ts";
import { Dataset, requests } from "./_library.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";

Deno.test("a report as the agent's SCP sends it reads back as the SCU's report", () => {
  const sent = {
    transactionUid: "2.25.99",
    committed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }],
    failed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.2", reason: 0x0112 }],
    retrieveAet: "NORTH",
  };
  assert.deepEqual(readCommitmentReport(eventReportRequest(sent)), sent);
  const all = { transactionUid: "2.25.100", committed: sent.committed, failed: [] };
  assert.deepEqual(readCommitmentReport(eventReportRequest(all)), all);
});

Deno.test("the N-ACTION names the well-known instance, action type 1, the Transaction UID and every instance", () => {
  const rq = commitmentActionRequest("2.25.7", [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }]) as any;
  const command = rq.getCommandDataset();
  assert.equal(command.getElement("RequestedSOPClassUID"), SopClass.StorageCommitmentPushModel);
  assert.equal(command.getElement("RequestedSOPInstanceUID"), SopClass.StorageCommitmentPushModelInstance);
  assert.equal(Number(command.getElement("ActionTypeID")), 1);
  const elements = rq.getDataset().getElements();
  assert.equal(elements.TransactionUID, "2.25.7");
  assert.deepEqual(elements.ReferencedSOPSequence, [{
    ReferencedSOPClassUID: CT,
    ReferencedSOPInstanceUID: "1.2.3.1",
  }]);
});

Deno.test("a report that is not one is refused with the N-EVENT-REPORT status", () => {
  const status = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      assert.ok(err instanceof DimseStatusError);
      return err.status;
    }
    assert.fail("not refused");
  };
  const report = (
    eventType: number,
    elements: Record<string, unknown>,
    sopClass: string = SopClass.StorageCommitmentPushModel,
  ) => {
    const rq = new requests.NEventReportRequest(
      sopClass,
      SopClass.StorageCommitmentPushModelInstance,
      eventType,
    );
    rq.setDataset(new Dataset(elements));
    return rq;
  };
  assert.equal(
    status(() => readCommitmentReport(report(3, { TransactionUID: "2.25.1" }))),
    Status.NoSuchEventType,
  );
  assert.equal(status(() => readCommitmentReport(report(1, {}))), Status.InvalidArgumentValue);
  assert.equal(
    status(() => readCommitmentReport(report(1, { TransactionUID: "2.25.1" }, CT))),
    Status.NoSuchSopClass,
  );
  // Items without valid UIDs are left out (what they name is asked again); a reason that is not a number is 0x0110.
  const read = readCommitmentReport(report(2, {
    TransactionUID: "2.25.1",
    ReferencedSOPSequence: [{ ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: "x" }],
    FailedSOPSequence: [{ ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: "1.2.9" }],
  }));
  assert.deepEqual(read, {
    transactionUid: "2.25.1",
    committed: [],
    failed: [{ sopClassUid: CT, sopInstanceUid: "1.2.9", reason: 0x0110 }],
  });
});

Deno.test("a report whose association closes first says why it closed, when the association knows", async () => {
  const report = {
    transactionUid: "2.25.101",
    committed: [{ sopClassUid: CT, sopInstanceUid: "1.2.3.1" }],
    failed: [],
  };
  const network = (closedBefore?: (what: string) => string) => {
    const socket = new EventTarget();
    return {
      close: () => socket.dispatchEvent(new Event("close")),
      network: {
        socket: {
          once: (_: "close", fn: () => void) => socket.addEventListener("close", fn, { once: true }),
          off: (_: "close", fn: () => void) => socket.removeEventListener("close", fn),
        },
        sendRequests: () => {},
        ...(closedBefore ? { closedBefore } : {}),
      },
    };
  };
  const timedOut = network((what) =>
    `no PDU from the peer for 2 s (the idle timeout): aborted before ${what}`
  );
  const sent = sendEventReport(timedOut.network, report, 10_000);
  timedOut.close();
  await assert.rejects(
    sent,
    /^ReportUnansweredError: no PDU from the peer for 2 s \(the idle timeout\): aborted before the N-EVENT-REPORT response$/,
  );
  const plain = network();
  const sentPlain = sendEventReport(plain.network, report, 10_000);
  plain.close();
  await assert.rejects(
    sentPlain,
    /^ReportUnansweredError: association closed before the N-EVENT-REPORT response$/,
  );
});
