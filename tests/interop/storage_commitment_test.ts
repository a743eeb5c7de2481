/**
 * Storage Commitment Push Model with the agent as SCP (PS3.4 J.3, conformance.md section 4 and "Storage
 * Commitment"): Orthanc stores objects into the agent and asks it to commit them through its Storage
 * Commitment SCU (`POST /modalities/{id}/storage-commitment`); Orthanc releases its association after the
 * N-ACTION, so the agent reports on a new association to Orthanc, a configured node. A raw requester
 * (tests/support/pdu.ts) that keeps its association open gets the report on it, and malformed N-ACTIONs get
 * their error status without ending the association.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { freePort, PYDICOM_TEST_FILES_DIR, skipReason, startOrthanc } from "../support/peers.ts";
import { datasetBytes, listFiles, startAgentProcess } from "../support/agent.ts";
import { fileTransferSyntax, storescu } from "../support/send.ts";
import {
  abortPdu,
  associate,
  associateAc,
  cEchoRq,
  type Command,
  CommandField,
  commandSet,
  CommandTag,
  cStore,
  type DatasetValue,
  describe,
  implicitDataset,
  type ParsedDataset,
  parseImplicitDataset,
  pdataTf,
  PduSocket,
  PduType,
  readCommand,
  readMessage,
  release,
  releaseRp,
} from "../support/pdu.ts";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { instanceAttributes } from "@conduit/shared/dicom";
import { parseHeaderBytes } from "../../agent/part10/header.ts";

const skip = skipReason("Orthanc");
if (skip) console.warn(`storage_commitment_test: skipped: ${skip}`);

const CT = "1.2.840.10008.5.1.4.1.1.2";

/** The SOP Class and Instance UIDs of a Part 10 file. */
function uidsOf(bytes: Uint8Array): { sopClassUid: string; sopInstanceUid: string } {
  const h = parseHeaderBytes(bytes, bytes.length, true);
  const a = instanceAttributes(h.bytes, h.dataset);
  return { sopClassUid: a.sopClassUid, sopInstanceUid: a.sopInstanceUid };
}

/** Waits for a condition, polling; fails with `what` after `timeoutMs`. */
async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

Deno.test({
  name:
    "storage commitment: Orthanc's request is reported on a new association; held objects committed, an unknown one 0x0112, a class mismatch 0x0119",
  ignore: !!skip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const agentPort = freePort();
    const orthancDir = await Deno.makeTempDir({ prefix: "orthanc-stgcmt-" });
    const orthanc = await startOrthanc({
      storageDir: orthancDir,
      modalities: { conduit: { aet: "CONDUIT", host: "127.0.0.1", port: agentPort } },
    });
    const agent = await startAgentProcess({
      port: agentPort,
      config: {
        nodes: { pacs: { aet: orthanc.aet, host: "127.0.0.1", port: orthanc.port } },
        dimse: { commitmentRetrySeconds: 0.2 },
      },
    });
    try {
      const [mrSpec] = generateStudies({
        seed: "stgcmt",
        patients: 1,
        studiesPerPatient: 1,
        series: [{ modality: "MR", instances: 1 }],
        rows: 16,
        columns: 16,
      });
      const files = [
        await Deno.readFile(path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm")),
        generateInstance(mrSpec),
      ];
      const ids: string[] = [];
      for (const body of files) {
        const r = await orthanc.rest("/instances", { method: "POST", body: body as Uint8Array<ArrayBuffer> });
        assert.equal(r.status, 200, await r.clone().text());
        ids.push((await r.json()).ID);
      }
      const stored = await orthanc.rest("/modalities/conduit/store", {
        method: "POST",
        body: JSON.stringify({ Resources: ids, Synchronous: true }),
      });
      assert.equal(stored.status, 200, await stored.text());

      const [ct, mr] = files.map(uidsOf);
      assert.equal(ct.sopClassUid, CT);
      const unknown = { sopClassUid: CT, sopInstanceUid: "2.25.4242424242424242" };
      const asked = await orthanc.rest("/modalities/conduit/storage-commitment", {
        method: "POST",
        body: JSON.stringify({
          DicomInstances: [
            [ct.sopClassUid, ct.sopInstanceUid],
            [unknown.sopClassUid, unknown.sopInstanceUid],
            // Held, but as an MR object: a class/instance conflict.
            [CT, mr.sopInstanceUid],
          ],
          Timeout: 30,
        }),
      });
      assert.equal(asked.status, 200, await asked.clone().text());
      const { ID: transaction } = await asked.json() as { ID: string };
      const report = await until("Orthanc to receive the report", async () => {
        const r = await orthanc.rest(`/storage-commitment/${transaction}`);
        const body = await r.json() as { Status: string; Success?: unknown[]; Failures?: unknown[] };
        return body.Status === "Pending" ? undefined : body;
      });
      assert.equal(report.Status, "Failure", JSON.stringify(report));
      assert.deepEqual(report.Success, [{ SOPClassUID: ct.sopClassUid, SOPInstanceUID: ct.sopInstanceUid }]);
      const failures = (report.Failures as { FailureReason: number; SOPInstanceUID: string }[])
        .map((f) => [f.SOPInstanceUID, f.FailureReason]).sort();
      assert.deepEqual(failures, [[unknown.sopInstanceUid, 0x0112], [mr.sopInstanceUid, 0x0119]].sort());

      // All held, with their classes: Success.
      const all = await orthanc.rest("/modalities/conduit/storage-commitment", {
        method: "POST",
        body: JSON.stringify({ DicomInstances: [ct, mr].map((u) => [u.sopClassUid, u.sopInstanceUid]) }),
      });
      const { ID: second } = await all.json() as { ID: string };
      const ok = await until("the second report", async () => {
        const body = await (await orthanc.rest(`/storage-commitment/${second}`)).json() as { Status: string };
        return body.Status === "Pending" ? undefined : body;
      });
      assert.equal(ok.Status, "Success", JSON.stringify(ok));

      // Orthanc has the report once the agent's N-EVENT-REPORT reached it; the agent logs it after the answer
      // (on a busy machine, a moment after Orthanc says so).
      const reportedLines = async () =>
        (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) =>
          l.includes("storage commitment reported")
        );
      const reported = await until("the agent to log both reports", async () => {
        const lines = await reportedLines();
        return lines.length >= 2 ? lines : undefined;
      });
      const log = await Deno.readTextFile(agent.logFile);
      assert.equal(reported.length, 2);
      for (const line of reported) assert.equal(JSON.parse(line).via, "new association");
      assert.deepEqual(JSON.parse(reported[0]).committed, 1);
      assert.deepEqual([...Deno.readDirSync(path.join(agent.dataDir, "commitment"))], [], "nothing pending");
      assert.ok(!log.includes(ct.sopInstanceUid) && !log.includes(transaction), "UIDs are logged hashed");
      // Orthanc released its association at once: where the report could not go on it, the log says so in
      // words ("Error: processing failed" until 2026-12-07, which read as a fault).
      for (const line of log.split("\n").filter((l) => l.includes("not answered on the requester's"))) {
        assert.match(
          JSON.parse(line).reason,
          /association closed before the N-EVENT-REPORT response|no N-EVENT/,
        );
      }
    } finally {
      await agent.stop();
      await orthanc.stop();
      await Deno.remove(orthancDir, { recursive: true }).catch(() => {});
    }
  },
});

const STGCMT = "1.2.840.10008.1.20.1";
const STGCMT_INSTANCE = "1.2.840.10008.1.20.1.1";
const IMPLICIT = "1.2.840.10008.1.2";
const TAG = {
  RetrieveAeTitle: 0x00080054,
  TransactionUid: 0x00081195,
  ReferencedSopSequence: 0x00081199,
  FailedSopSequence: 0x00081198,
  ReferencedSopClassUid: 0x00081150,
  ReferencedSopInstanceUid: 0x00081155,
  FailureReason: 0x00081197,
};

/** An N-ACTION-RQ of the Storage Commitment Push Model, with the Action Information given (if any). */
function nAction(
  messageId: number,
  actionInformation: Uint8Array | undefined,
  opts: { actionType?: number; instance?: string } = {},
): Uint8Array[] {
  const command = commandSet({
    [CommandTag.RequestedSopClassUid]: { uid: STGCMT },
    [CommandTag.CommandField]: { us: CommandField.NActionRq },
    [CommandTag.MessageId]: { us: messageId },
    [CommandTag.CommandDataSetType]: { us: actionInformation ? 0x0000 : 0x0101 },
    [CommandTag.RequestedSopInstanceUid]: { uid: opts.instance ?? STGCMT_INSTANCE },
    [CommandTag.ActionTypeId]: { us: opts.actionType ?? 1 },
  });
  const pdus = [pdataTf([{ contextId: 1, command: true, last: true, value: command }])];
  if (actionInformation) {
    pdus.push(pdataTf([{ contextId: 1, command: false, last: true, value: actionInformation }]));
  }
  return pdus;
}

/** Action Information: a Transaction UID and a Referenced SOP Sequence (either left out when undefined). */
function actionInformation(
  transactionUid: string | undefined,
  refs: { sopClassUid: string; sopInstanceUid: string }[] | undefined,
): Uint8Array {
  const elements: Record<number, DatasetValue> = {};
  if (transactionUid) elements[TAG.TransactionUid] = { uid: transactionUid };
  if (refs) {
    elements[TAG.ReferencedSopSequence] = {
      items: refs.map((r) => ({
        [TAG.ReferencedSopClassUid]: { uid: r.sopClassUid },
        [TAG.ReferencedSopInstanceUid]: { uid: r.sopInstanceUid },
      })),
    };
  }
  return implicitDataset(elements);
}

/** Sends an N-ACTION and returns its N-ACTION-RSP's status and error comment. */
async function requestCommitment(socket: PduSocket, pdus: Uint8Array[]): Promise<[number, string]> {
  for (const p of pdus) await socket.send(p);
  const rsp = await readMessage(socket);
  assert.ok(rsp.kind === "message", `an N-ACTION-RSP: ${rsp.kind === "other" ? describe(rsp.received) : ""}`);
  assert.equal(rsp.command.commandField, CommandField.NActionRsp);
  return [rsp.command.status!, rsp.command.text(CommandTag.ErrorComment) ?? ""];
}

/** Answers an N-EVENT-REPORT-RQ with Success (or `status`). */
async function answerReport(
  socket: PduSocket,
  contextId: number,
  request: Command,
  status = 0,
): Promise<void> {
  await socket.send(pdataTf([{
    contextId,
    command: true,
    last: true,
    value: commandSet({
      [CommandTag.AffectedSopClassUid]: { uid: STGCMT },
      [CommandTag.CommandField]: { us: CommandField.NEventReportRsp },
      [CommandTag.MessageIdBeingRespondedTo]: { us: request.us(CommandTag.MessageId)! },
      [CommandTag.CommandDataSetType]: { us: 0x0101 },
      [CommandTag.Status]: { us: status },
      [CommandTag.AffectedSopInstanceUid]: { uid: STGCMT_INSTANCE },
      [CommandTag.EventTypeId]: { us: request.us(CommandTag.EventTypeId)! },
    }),
  }]));
}

const rawSkip = skipReason("storescu");

Deno.test({
  name:
    "storage commitment: a requester that keeps its association gets the report on it; malformed N-ACTIONs get their status and the association goes on",
  ignore: !!rawSkip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const agent = await startAgentProcess({ aet: "STGCMT" });
    try {
      const ctFile = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
      const stored = await storescu([ctFile], agent);
      assert.equal(stored.code, 0, stored.stderr);
      const ct = uidsOf(await Deno.readFile(ctFile));
      const transaction = "2.25.987654321";
      const { socket } = await associate(agent.port, {
        calledAet: "STGCMT",
        callingAet: "MODALITY",
        contexts: [
          { id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] },
          { id: 3, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: [IMPLICIT] },
        ],
      });
      try {
        const refs = [ct];
        // PS3.7 10.1.4.1.10 statuses for what is not a Storage Commitment request.
        assert.deepEqual(await requestCommitment(socket, nAction(1, undefined)), [
          0x0115,
          "no Action Information",
        ]);
        assert.deepEqual(
          await requestCommitment(socket, nAction(2, actionInformation(undefined, refs))),
          [0x0115, "no Transaction UID"],
        );
        assert.deepEqual(
          await requestCommitment(socket, nAction(3, actionInformation("2.25.1", undefined))),
          [0x0115, "no Referenced SOP Sequence"],
        );
        assert.deepEqual(
          await requestCommitment(socket, nAction(4, actionInformation("2.25.1", []))),
          [0x0115, "no Referenced SOP Sequence"],
        );
        assert.equal(
          (await requestCommitment(socket, nAction(5, actionInformation("2.25.1", refs), { actionType: 2 })))[
            0
          ],
          0x0123,
        );
        assert.equal(
          (await requestCommitment(
            socket,
            nAction(6, actionInformation("2.25.1", refs), { instance: "2.25.9" }),
          ))[0],
          0x0112,
        );

        // A request for the stored CT (under its class, and under another) and an unknown instance.
        const unknown = { sopClassUid: CT, sopInstanceUid: "2.25.123123123" };
        const asMr = { sopClassUid: "1.2.840.10008.5.1.4.1.1.4", sopInstanceUid: ct.sopInstanceUid };
        const [status] = await requestCommitment(
          socket,
          nAction(7, actionInformation(transaction, [ct, unknown, asMr])),
        );
        assert.equal(status, 0x0000);
        const report = await readMessage(socket, 30_000);
        assert.ok(report.kind === "message" && report.dataset, "an N-EVENT-REPORT-RQ with its data set");
        const { command } = report;
        assert.equal(command.commandField, CommandField.NEventReportRq);
        assert.equal(command.text(CommandTag.AffectedSopClassUid), STGCMT);
        assert.equal(command.text(CommandTag.AffectedSopInstanceUid), STGCMT_INSTANCE);
        assert.equal(command.us(CommandTag.EventTypeId), 2, "some failed");
        const ds = parseImplicitDataset(
          report.dataset,
          new Set([TAG.ReferencedSopSequence, TAG.FailedSopSequence]),
        );
        const str = (v: Uint8Array | undefined) => new TextDecoder().decode(v).replace(/[\0 ]+$/, "");
        assert.equal(str(ds.values.get(TAG.TransactionUid)), transaction);
        assert.equal(str(ds.values.get(TAG.RetrieveAeTitle)), "STGCMT", "Retrieve AE Title: the agent");
        const committed = ds.sequences.get(TAG.ReferencedSopSequence)!.map((i) => [
          str(i.values.get(TAG.ReferencedSopClassUid)),
          str(i.values.get(TAG.ReferencedSopInstanceUid)),
        ]);
        assert.deepEqual(committed, [[ct.sopClassUid, ct.sopInstanceUid]]);
        const failed = ds.sequences.get(TAG.FailedSopSequence)!.map((i) => [
          str(i.values.get(TAG.ReferencedSopClassUid)),
          str(i.values.get(TAG.ReferencedSopInstanceUid)),
          new DataView(i.values.get(TAG.FailureReason)!.slice().buffer).getUint16(0, true),
        ]);
        assert.deepEqual(failed, [
          [unknown.sopClassUid, unknown.sopInstanceUid, 0x0112],
          [asMr.sopClassUid, asMr.sopInstanceUid, 0x0119],
        ]);
        // Answered Success: the report is done.
        await answerReport(socket, report.contextId, command);
        // The association still works.
        await socket.send(pdataTf([{ contextId: 3, command: true, last: true, value: cEchoRq(8) }]));
        const echo = await readCommand(socket);
        assert.ok(echo.kind === "command" && echo.command.status === 0, "C-ECHO after the report");
        await release(socket);
      } finally {
        await socket.close();
      }
      const log = await until("the report logged", async () => {
        const text = await Deno.readTextFile(agent.logFile);
        return /storage commitment reported.*requester's association/.test(text) ? text : undefined;
      });
      assert.ok(!log.includes(ct.sopInstanceUid) && !log.includes(transaction), "UIDs are logged hashed");
      assert.deepEqual([...Deno.readDirSync(path.join(agent.dataDir, "commitment"))], [], "nothing pending");
      // operations.md: N-ACTIONs counted by status, the refused ones as failures too.
      const metrics = await (await agent.http("/metrics")).text();
      const count = (line: string) => Number(new RegExp(`^${line} (\\d+)`, "m").exec(metrics)?.[1] ?? 0);
      assert.equal(count('conduit_agent_operations_total\\{operation="commitment",status="0x0115"\\}'), 4);
      assert.equal(count('conduit_agent_operations_total\\{operation="commitment",status="0x0000"\\}'), 1);
      assert.equal(count('conduit_agent_failures_total\\{operation="commitment",status="0x0123"\\}'), 1);

      // A requester that is no configured node and aborts at once: its report cannot be delivered.
      const other = await associate(agent.port, {
        calledAet: "STGCMT",
        callingAet: "ELSEWHERE",
        contexts: [{ id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] }],
      });
      const [accepted] = await requestCommitment(
        other.socket,
        nAction(1, actionInformation("2.25.55", [ct])),
      );
      assert.equal(accepted, 0x0000);
      await other.socket.send(abortPdu());
      await other.socket.close();
      await until("the undeliverable report logged", async () => {
        const text = await Deno.readTextFile(agent.logFile);
        return /report not delivered: the requester is no configured node/.test(text) ? true : undefined;
      });
      assert.deepEqual([...Deno.readDirSync(path.join(agent.dataDir, "commitment"))], [], "nothing pending");
      // operations.md: each report owed counted by what became of it.
      const reports = await (await agent.http("/metrics")).text();
      const reported = (outcome: string) =>
        Number(
          new RegExp(`^conduit_agent_commitment_reports_total\\{outcome="${outcome}"\\} (\\d+)`, "m")
            .exec(reports)?.[1],
        );
      assert.deepEqual(["delivered", "unreachable", "given-up"].map(reported), [1, 1, 0]);

      // Action Information that is no data set (an element longer than the bytes, then random bytes): the
      // association ends or the request is refused, and the agent goes on serving.
      const garbage = [
        new Uint8Array([0x08, 0x00, 0x95, 0x11, 0xff, 0xff, 0x00, 0x10, 0x31, 0x2e]),
        crypto.getRandomValues(new Uint8Array(512)),
      ];
      for (const bytes of garbage) {
        const bad = await associate(agent.port, {
          calledAet: "STGCMT",
          callingAet: "FUZZ",
          contexts: [{ id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] }],
        });
        for (const p of nAction(1, bytes)) await bad.socket.trySend(p);
        const answer = await readMessage(bad.socket, 10_000);
        if (answer.kind === "message") {
          assert.equal(answer.command.commandField, CommandField.NActionRsp);
          assert.notEqual(answer.command.status, 0x0000, "malformed Action Information is not taken");
        } else assert.notEqual(answer.received.kind, "timeout", "an answer or the end of the association");
        await bad.socket.close();
      }
      const echo = await associate(agent.port, {
        calledAet: "STGCMT",
        callingAet: "AFTER",
        contexts: [{ id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: [IMPLICIT] }],
      });
      await echo.socket.send(pdataTf([{ contextId: 1, command: true, last: true, value: cEchoRq(1) }]));
      const echoed = await readCommand(echo.socket);
      assert.ok(echoed.kind === "command" && echoed.command.status === 0, "the agent still answers C-ECHO");
      await release(echo.socket);
      assert.ok(!agent.exited(), "the agent is still running");
    } finally {
      await agent.stop();
    }
  },
});

/**
 * Plays a requester's SCP side for one association the agent opens to report: accepts it, reads the
 * N-EVENT-REPORT-RQ, answers Success, answers the release. Resolves with the report and the A-ASSOCIATE-RQ.
 */
async function receiveReport(listener: Deno.TcpListener): Promise<
  { rq: Uint8Array; command: Command; dataset: ParsedDataset }
> {
  const socket = PduSocket.accepted(await listener.accept());
  try {
    const rq = await socket.read(30_000);
    assert.ok(rq.kind === "pdu" && rq.type === PduType.AssociateRq, `an A-ASSOCIATE-RQ: ${describe(rq)}`);
    await socket.send(associateAc({
      calledAet: "RAWNODE",
      callingAet: "STGCMT",
      contexts: [{ id: 1, result: 0, transferSyntax: IMPLICIT }],
      maxPduLength: 65536,
    }));
    const report = await readMessage(socket, 30_000);
    assert.ok(report.kind === "message" && report.dataset, "an N-EVENT-REPORT-RQ with its data set");
    await answerReport(socket, report.contextId, report.command);
    const rel = await socket.read(30_000);
    if (rel.kind === "pdu" && rel.type === PduType.ReleaseRq) await socket.trySend(releaseRp());
    return {
      rq: rq.body,
      command: report.command,
      dataset: parseImplicitDataset(
        report.dataset,
        new Set([TAG.ReferencedSopSequence, TAG.FailedSopSequence]),
      ),
    };
  } finally {
    await socket.close();
  }
}

Deno.test({
  name:
    "storage commitment: a report not delivered after the last attempt is given up, kept as .failed and counted",
  ignore: !!rawSkip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const config = {
      nodes: { modality: { aet: "RAWNODE", host: "127.0.0.1", port: freePort() } },
      dimse: { commitmentRetrySeconds: 0.1, commitmentReportAttempts: 2 },
    };
    const agent = await startAgentProcess({ aet: "STGCMT", config });
    try {
      const ctFile = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
      assert.equal((await storescu([ctFile], agent)).code, 0);
      const { socket } = await associate(agent.port, {
        calledAet: "STGCMT",
        callingAet: "RAWNODE",
        contexts: [{ id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] }],
      });
      const ct = uidsOf(await Deno.readFile(ctFile));
      const [status] = await requestCommitment(socket, nAction(1, actionInformation("2.25.778", [ct])));
      assert.equal(status, 0x0000);
      // Gone before the report; nothing listens at the node's port: two attempts, then given up.
      await socket.send(abortPdu());
      await socket.close();
      const metrics = await until("the report counted as given up", async () => {
        const text = await (await agent.http("/metrics")).text();
        return /^conduit_agent_commitment_reports_total\{outcome="given-up"\} 1$/m.test(text)
          ? text
          : undefined;
      });
      assert.match(metrics, /^conduit_agent_commitment_reports_total\{outcome="delivered"\} 0$/m);
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /storage commitment report not delivered after the last attempt/);
      const left = [...Deno.readDirSync(path.join(agent.dataDir, "commitment"))].map((e) => e.name);
      assert.equal(left.length, 1);
      assert.match(left[0], /\.failed$/, "kept for an operator, not retried at the next start");
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "storage commitment: a report whose requester cannot be reached is retried with backoff, kept across a restart, and delivered on a new association with the SCP role proposed",
  ignore: !!rawSkip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const nodePort = freePort();
    const dataDir = await Deno.makeTempDir({ prefix: "conduit-stgcmt-" });
    const config = {
      nodes: { modality: { aet: "RAWNODE", host: "127.0.0.1", port: nodePort } },
      dimse: { commitmentRetrySeconds: 0.1, commitmentReportAttempts: 20 },
    };
    let agent = await startAgentProcess({ aet: "STGCMT", dataDir, config });
    let listener: Deno.TcpListener | undefined;
    try {
      const ctFile = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
      assert.equal((await storescu([ctFile], agent)).code, 0);
      const ct = uidsOf(await Deno.readFile(ctFile));
      const { socket } = await associate(agent.port, {
        calledAet: "STGCMT",
        callingAet: "RAWNODE",
        contexts: [{ id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] }],
      });
      const [status] = await requestCommitment(socket, nAction(1, actionInformation("2.25.777", [ct])));
      assert.equal(status, 0x0000);
      // Gone before the report: it goes on a new association, to a node nothing listens at yet.
      await socket.send(abortPdu());
      await socket.close();
      await until("a retry logged", async () => {
        const text = await Deno.readTextFile(agent.logFile);
        return (text.match(/storage commitment report not delivered; retrying/g)?.length ?? 0) >= 2 ||
          undefined;
      });
      await agent.stop();
      const pending = [...Deno.readDirSync(path.join(dataDir, "commitment"))].map((e) => e.name);
      assert.equal(pending.length, 1, "the request is kept for the next start");
      assert.match(pending[0], /\.json$/);

      // A record that is not one (a torn or foreign file) is removed at start with a warning, nothing else.
      await Deno.writeTextFile(path.join(dataDir, "commitment", `${"0".repeat(32)}.json`), '{"references":');
      await Deno.writeTextFile(path.join(dataDir, "commitment", `${"1".repeat(32)}.json`), "{}");

      // The node is up now; the restarted agent delivers the report.
      listener = Deno.listen({ hostname: "127.0.0.1", port: nodePort });
      const received = receiveReport(listener);
      agent = await startAgentProcess({ aet: "STGCMT", dataDir, config, port: agent.port });
      const { rq, command, dataset } = await received;
      // SCP/SCU Role Selection for Storage Commitment: SCU role 0, SCP role 1 (PS3.7 D.3.3.4).
      const uid = new TextEncoder().encode(STGCMT);
      assert.ok(
        Buffer.from(rq).includes(Buffer.concat([Buffer.from(uid), Buffer.from([0, 1])])),
        "the A-ASSOCIATE-RQ selects the SCP role for Storage Commitment",
      );
      assert.equal(command.commandField, CommandField.NEventReportRq);
      assert.equal(command.us(CommandTag.EventTypeId), 1, "all committed");
      const str = (v: Uint8Array | undefined) => new TextDecoder().decode(v).replace(/[\0 ]+$/, "");
      assert.equal(str(dataset.values.get(TAG.TransactionUid)), "2.25.777");
      assert.deepEqual(
        dataset.sequences.get(TAG.ReferencedSopSequence)!.map((i) =>
          str(i.values.get(TAG.ReferencedSopInstanceUid))
        ),
        [ct.sopInstanceUid],
      );
      assert.equal(dataset.sequences.get(TAG.FailedSopSequence), undefined);
      await until("the pending request removed", () =>
        Promise.resolve(
          [...Deno.readDirSync(path.join(dataDir, "commitment"))].length === 0 ? true : undefined,
        ));
    } finally {
      listener?.close();
      await agent.stop();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "storage commitment: an object answered Success whose index rows wait for the group commit is committed, not reported missing; one whose archived file is gone fails with 0x0110",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // The group commit is held 1.5 s after each Success: the N-ACTION arrives before the rows are written.
    const agent = await startAgentProcess({ aet: "STGCMT", env: { CONDUIT_TEST_COMMIT_HOLD_MS: "1500" } });
    try {
      const ctFile = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
      const ct = uidsOf(await Deno.readFile(ctFile));
      const syntax = fileTransferSyntax(ctFile)!;
      const { socket, ac } = await associate(agent.port, {
        calledAet: "STGCMT",
        callingAet: "MODALITY",
        contexts: [
          { id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] },
          { id: 3, abstractSyntax: CT, transferSyntaxes: [syntax] },
        ],
      });
      try {
        const stored = await cStore(socket, {
          contextId: 3,
          sopClassUid: ct.sopClassUid,
          sopInstanceUid: ct.sopInstanceUid,
          dataset: await datasetBytes(ctFile),
          maxPduLength: ac.maxPduLength,
        });
        assert.equal(stored, 0x0000);
        const [status] = await requestCommitment(socket, nAction(2, actionInformation("2.25.31337", [ct])));
        assert.equal(status, 0x0000);
        const report = await readMessage(socket, 30_000);
        assert.ok(report.kind === "message", "an N-EVENT-REPORT-RQ");
        assert.equal(report.command.commandField, CommandField.NEventReportRq);
        assert.equal(report.command.us(CommandTag.EventTypeId), 1, "committed once the group commit is done");
        await answerReport(socket, report.contextId, report.command);

        // Its archived file gone (the index still holding it): failed, 0x0110 processing failure.
        const file = (await listFiles(path.join(agent.dataDir, "archive")))
          .find((f) => f.endsWith(`/${ct.sopInstanceUid}.dcm`));
        assert.ok(file, "the archived file");
        await Deno.remove(file);
        assert.equal(
          (await requestCommitment(socket, nAction(3, actionInformation("2.25.31338", [ct]))))[0],
          0,
        );
        const again = await readMessage(socket, 30_000);
        assert.ok(again.kind === "message" && again.dataset, "a second N-EVENT-REPORT-RQ");
        assert.equal(again.command.us(CommandTag.EventTypeId), 2);
        const failed = parseImplicitDataset(
          again.dataset,
          new Set([TAG.ReferencedSopSequence, TAG.FailedSopSequence]),
        )
          .sequences.get(TAG.FailedSopSequence)!;
        assert.equal(failed.length, 1);
        assert.equal(
          new DataView(failed[0].values.get(TAG.FailureReason)!.slice().buffer).getUint16(0, true),
          0x0110,
        );
        await answerReport(socket, again.contextId, again.command);
        await release(socket);
      } finally {
        await socket.close();
      }
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "storage commitment: a report the requester refuses on its own association goes again on a new association to it",
  ignore: !!rawSkip,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const agent = await startAgentProcess({
      aet: "STGCMT",
      config: { nodes: { modality: { aet: "RAWNODE", host: "127.0.0.1", port: listener.addr.port } } },
    });
    try {
      const ctFile = path.join(PYDICOM_TEST_FILES_DIR, "CT_small.dcm");
      assert.equal((await storescu([ctFile], agent)).code, 0);
      const ct = uidsOf(await Deno.readFile(ctFile));
      const { socket } = await associate(agent.port, {
        calledAet: "STGCMT",
        callingAet: "RAWNODE",
        contexts: [{ id: 1, abstractSyntax: STGCMT, transferSyntaxes: [IMPLICIT] }],
      });
      try {
        assert.equal(
          (await requestCommitment(socket, nAction(1, actionInformation("2.25.888", [ct]))))[0],
          0,
        );
        const first = await readMessage(socket, 30_000);
        assert.ok(first.kind === "message", "the report on the requester's association");
        const again = receiveReport(listener);
        await answerReport(socket, first.contextId, first.command, 0x0110);
        const { command, dataset } = await again;
        assert.equal(command.us(CommandTag.EventTypeId), 1);
        const str = (v: Uint8Array | undefined) => new TextDecoder().decode(v).replace(/[\0 ]+$/, "");
        assert.equal(str(dataset.values.get(TAG.TransactionUid)), "2.25.888");
        await release(socket);
      } finally {
        await socket.close();
      }
      await until("the report logged as delivered on a new association", async () => {
        const text = await Deno.readTextFile(agent.logFile);
        return /storage commitment reported.*new association/.test(text) ? true : undefined;
      });
    } finally {
      listener.close();
      await agent.stop();
    }
  },
});
