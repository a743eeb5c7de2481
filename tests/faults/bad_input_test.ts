/**
 * Bad input on the DIMSE port: garbage, truncated and oversized PDUs, unknown SOP classes, C-STORE
 * payloads that are not DICOM or do not match their command, and a peer vanishing mid-object. Every case
 * checks the answer on the wire, that the agent process is still serving afterwards (C-ECHO with DCMTK
 * `echoscu`, and `/healthz`), and that no partial file is left in `<data>/archive` or `<data>/incoming`.
 * One agent with short timeouts serves all the cases. Refused associations are in
 * association_policy_test.ts, a full disk in full_disk_test.ts.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { readPart10Header, SopClass } from "@conduit/shared/dicom";
import { uidFromKey } from "@conduit/shared/testing";
import { runDcmtk, sleep } from "../support/peers.ts";
import { listFiles, startAgentProcess } from "../support/agent.ts";
import {
  associate,
  ContextResult,
  cStore,
  describe,
  hexStatus,
  pdu,
  PduSocket,
  PduType,
  readCommand,
  release,
  sendCStore,
} from "../support/pdu.ts";
import {
  agentLog,
  assertNoLeftovers,
  assertOnlyRefusals,
  assertProviderAbort,
  assertServing,
  ctObject,
  noise,
  partialFiles,
} from "../support/faults.ts";
import { ctSmall, DROP_SLACK_MS, skip, storageAssociation, TIMEOUTS } from "./_bad_input.ts";

const UNKNOWN_SOP_CLASS = "1.2.3.4.5";
/** A storescu configuration (`-xf FILE Unknown`) proposing {@link UNKNOWN_SOP_CLASS} uncompressed. */
const STORESCU_UNKNOWN_CLASS_CONFIG = `[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = LocalEndianExplicit
TransferSyntax2 = LittleEndianImplicit

[[PresentationContexts]]
[Unknown]
PresentationContext1 = ${UNKNOWN_SOP_CLASS}\\Uncompressed

[[Profiles]]
[Unknown]
PresentationContexts = Unknown
`;

if (skip) console.warn(`bad_input_test: skipped: ${skip}`);

Deno.test({
  name: "bad input: garbage, truncated and oversized PDUs, unknown SOP class, bad C-STORE payloads",
  ignore: !!skip,
  fn: async (t) => {
    const agent = await startAgentProcess({ config: { dimse: { ...TIMEOUTS } } });
    try {
      await t.step("1. random bytes on a fresh connection are answered with A-ABORT or a close", async () => {
        const variants: [string, Uint8Array][] = [
          ["64 KiB of random bytes", noise(64 * 1024, 0x5eed)],
          [
            "an A-ASSOCIATE-RQ header with a random body",
            new Uint8Array([...pdu(PduType.AssociateRq, new Uint8Array(0), 4096), ...noise(4096, 7)]),
          ],
          [
            "a P-DATA-TF of random PDVs before any association",
            new Uint8Array([...pdu(PduType.PData, new Uint8Array(0), 8192), ...noise(8192, 11)]),
          ],
        ];
        for (const [what, bytes] of variants) {
          const socket = await PduSocket.connect(agent.port);
          try {
            await socket.trySend(bytes);
            const end = await socket.untilClosed(TIMEOUTS.artimTimeoutSeconds * 1000 + DROP_SLACK_MS);
            assert.ok(end.closed, `${what}: the agent kept the connection open`);
            assertOnlyRefusals(end.pdus, what);
          } finally {
            await socket.close();
          }
        }
        await assertServing(agent);
        await assertNoLeftovers(agent, []);
      });

      await t.step("2a. a truncated PDU, then the client closes", async () => {
        const socket = await PduSocket.connect(agent.port);
        // announces 1000 bytes, sends 10
        await socket.send(pdu(PduType.AssociateRq, noise(10, 3), 1000));
        await socket.close();
        await assertServing(agent);
        await assertNoLeftovers(agent, []);
      });

      await t.step(
        "2b. a truncated PDU, then silence: the agent drops the connection after ARTIM",
        async () => {
          const socket = await PduSocket.connect(agent.port);
          try {
            await socket.send(pdu(PduType.AssociateRq, noise(10, 5), 1000));
            const limit = TIMEOUTS.artimTimeoutSeconds * 1000 + DROP_SLACK_MS;
            const end = await socket.untilClosed(limit);
            assert.ok(
              end.closed,
              `the agent kept a stalled connection open for ${limit} ms${await agentLog(agent)}`,
            );
            assertOnlyRefusals(end.pdus, "stalled connection");
          } finally {
            await socket.close();
          }
          await assertServing(agent);
          await assertNoLeftovers(agent, []);
        },
      );

      await t.step("3. a PDU longer than the maximum is answered with A-ABORT", async () => {
        // before any association: a P-DATA-TF and an A-ASSOCIATE-RQ announcing 0x7FFFFFFF bytes
        for (const type of [PduType.PData, PduType.AssociateRq]) {
          const socket = await PduSocket.connect(agent.port);
          try {
            await socket.send(pdu(type, new Uint8Array(16), 0x7fffffff));
            await assertProviderAbort(socket, 6, `fresh connection, PDU type ${type}`);
          } finally {
            await socket.close();
          }
        }
        // inside an accepted association
        const { socket } = await storageAssociation(agent);
        try {
          await socket.send(pdu(PduType.PData, new Uint8Array(16), 0x7fffffff));
          await assertProviderAbort(socket, 6, "P-DATA-TF in an association");
        } finally {
          await socket.close();
        }
        await assertServing(agent);
        await assertNoLeftovers(agent, []);
      });

      await t.step("4. an unknown, non-storage SOP class is refused", async () => {
        const dir = await Deno.makeTempDir({ prefix: "conduit-faults-" });
        try {
          const file = path.join(dir, "unknown_class.dcm");
          await Deno.copyFile(ctSmall!, file);
          // dcmodify refuses "-m (0002,0002)=..." (tag not found) but rewrites group 0002 from (0008,0016).
          const modify = await runDcmtk("dcmodify", ["-nb", "-m", `(0008,0016)=${UNKNOWN_SOP_CLASS}`, file]);
          assert.equal(modify.code, 0, `dcmodify failed: ${modify.stderr}`);
          const bytes = await Deno.readFile(file);
          const header = readPart10Header(bytes);
          assert.equal(header.sopClassUid, UNKNOWN_SOP_CLASS, "(0002,0002) after dcmodify");

          // raw: the only context comes back rejected with result 3
          const { socket, ac } = await associate(agent.port, {
            calledAet: agent.aet,
            callingAet: "FAULTS",
            contexts: [{
              id: 1,
              abstractSyntax: UNKNOWN_SOP_CLASS,
              transferSyntaxes: [header.transferSyntax],
            }],
          });
          try {
            assert.deepEqual(
              ac.contexts.map((c) => ({ id: c.id, result: c.result })),
              [{ id: 1, result: ContextResult.AbstractSyntaxNotSupported }],
            );
            // A C-STORE on the rejected context must not store anything, whatever the answer.
            await sendCStore(socket, {
              contextId: 1,
              sopClassUid: UNKNOWN_SOP_CLASS,
              sopInstanceUid: header.sopInstanceUid!,
              dataset: bytes.subarray(header.datasetOffset),
              maxPduLength: ac.maxPduLength,
            }).catch(() => {/* the agent may have closed already */});
            const answer = await readCommand(socket, 5_000);
            if (answer.kind === "command") {
              const status = answer.command.status ?? 0;
              assert.ok(
                status !== 0 && (status & 0xf000) !== 0xb000,
                `C-STORE on a rejected context answered ${hexStatus(status)}`,
              );
            } else {
              assert.ok(
                answer.received.kind === "closed" ||
                  (answer.received.kind === "pdu" && answer.received.type === PduType.Abort),
                `C-STORE on a rejected context: ${describe(answer.received)}`,
              );
            }
          } finally {
            await socket.close();
          }
          await assertNoLeftovers(agent, []);

          // storescu refuses to propose a SOP class it does not know unless a configuration file names it
          const config = path.join(dir, "storescu.cfg");
          await Deno.writeTextFile(config, STORESCU_UNKNOWN_CLASS_CONFIG);
          const sent = await runDcmtk("storescu", [
            "-xf",
            config,
            "Unknown",
            "-aet",
            "STORESCU",
            "-aec",
            agent.aet,
            "127.0.0.1",
            String(agent.port),
            file,
          ], { timeoutMs: 20_000 });
          const output = sent.stdout + sent.stderr;
          assert.notEqual(sent.code, 0, `storescu succeeded with an unknown SOP class:\n${output}`);
          assert.match(output, /no acceptable presentation contexts/i, output);
          await assertServing(agent);
          await assertNoLeftovers(agent, []);
        } finally {
          await Deno.remove(dir, { recursive: true });
        }
      });

      await t.step("6. a C-STORE whose data set is not DICOM is answered 0xC000", async () => {
        const { socket, ac } = await storageAssociation(agent);
        try {
          for (const [contextId, seed] of [[1, 21], [3, 22]]) {
            const status = await cStore(socket, {
              contextId,
              messageId: contextId,
              sopClassUid: SopClass.CtImage,
              sopInstanceUid: uidFromKey(`faults/not-dicom/${contextId}`),
              dataset: noise(64 * 1024, seed),
              maxPduLength: ac.maxPduLength,
            });
            assert.equal(hexStatus(status), "0xC000", `random data set on context ${contextId}`);
          }
          await release(socket);
        } finally {
          await socket.close();
        }
        await assertNoLeftovers(agent, []);
        await assertServing(agent);
      });

      await t.step("7. a data set whose UIDs differ from its command is answered 0xA900", async () => {
        const object = ctObject("mismatch", { rows: 64, columns: 64 });
        const { socket, ac } = await storageAssociation(agent);
        try {
          const instance = await cStore(socket, {
            contextId: 1,
            messageId: 1,
            sopClassUid: object.sopClassUid,
            sopInstanceUid: uidFromKey("faults/some-other-instance"),
            dataset: object.dataset,
            maxPduLength: ac.maxPduLength,
          });
          assert.equal(hexStatus(instance), "0xA900", "SOP Instance UID differs from the command's");
          const klass = await cStore(socket, {
            contextId: 5,
            messageId: 2,
            sopClassUid: SopClass.MrImage,
            sopInstanceUid: object.sopInstanceUid,
            dataset: object.dataset,
            maxPduLength: ac.maxPduLength,
          });
          assert.equal(hexStatus(klass), "0xA900", "SOP Class UID differs from the command's");
          await release(socket);
        } finally {
          await socket.close();
        }
        await assertNoLeftovers(agent, []);
        await assertServing(agent);
      });

      await t.step(
        "8. a peer vanishing mid-object leaves nothing behind; a full send then succeeds",
        async () => {
          const object = ctObject("vanishing");
          assert.ok(object.dataset.length > 500_000, `object of ${object.dataset.length} bytes`);
          const message = (ac: { maxPduLength: number }) => ({
            contextId: 1,
            sopClassUid: object.sopClassUid,
            sopInstanceUid: object.sopInstanceUid,
            dataset: object.dataset,
            maxPduLength: ac.maxPduLength,
          });
          {
            const { socket, ac } = await storageAssociation(agent);
            await sendCStore(socket, message(ac), Math.floor(object.dataset.length / 2));
            // wait until the agent is writing the object to a temporary file, then vanish
            const partial = async () => await partialFiles(agent.dataDir);
            const deadline = Date.now() + 3_000;
            while ((await partial()).length === 0 && Date.now() < deadline) await sleep(20);
            const during = await partial();
            await socket.close();
            assert.equal(during.length, 1, "a .part file while the object was arriving");
          }
          await assertNoLeftovers(agent, []);
          await assertServing(agent);

          const { socket, ac } = await storageAssociation(agent);
          try {
            const status = await cStore(socket, message(ac));
            assert.equal(hexStatus(status), "0x0000", "full send after the vanished one");
            await release(socket);
          } finally {
            await socket.close();
          }
          await assertNoLeftovers(agent, [object.sopInstanceUid]);
          const [stored] = await listFiles(path.join(agent.dataDir, "archive"));
          const storedBytes = await Deno.readFile(stored);
          assert.deepEqual(
            storedBytes.subarray(readPart10Header(storedBytes).datasetOffset),
            object.dataset,
            "the archived data set is the one sent",
          );
          await assertServing(agent);
        },
      );
    } finally {
      await agent.stop();
    }
  },
});
