/**
 * Protocol faults inside an accepted association: command sets that cannot be parsed are aborted at
 * once (not held until the idle timeout); associations that end mid-object, by a close or an A-ABORT
 * while PDUs are still queued, leave no partial file; and the association metrics count every way an
 * association ends.
 */
import assert from "node:assert/strict";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { skipReason, sleep } from "../support/peers.ts";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import {
  abortPdu,
  associate,
  associateRq,
  cEchoRq,
  commandSet,
  CommandTag,
  cStoreRq,
  decodeAbort,
  describe,
  pdataTf,
  pdu,
  PduType,
  readCommand,
  release,
} from "../support/pdu.ts";
import {
  agentLog,
  assertNoLeftovers,
  assertServing,
  ctObject,
  noise,
  partialFiles,
} from "../support/faults.ts";

const EXPLICIT_LE = TransferSyntax.ExplicitVRLittleEndian;
const skip = skipReason("echoscu");
if (skip) console.warn(`dimse_protocol_test: skipped: ${skip}`);

/** Long enough that an abort "at once" cannot be the idle timeout. */
const IDLE_SECONDS = 60;
/** How soon the abort must come. */
const AT_ONCE_MS = 3_000;

const contexts = [
  { id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian] },
  { id: 3, abstractSyntax: SopClass.CtImage, transferSyntaxes: [EXPLICIT_LE] },
];

function associateWith(agent: AgentProcess, callingAet = "PROTOCOL") {
  return associate(agent.port, { calledAet: agent.aet, callingAet, contexts });
}

/** The agent's counters as `name{labels}` → value. */
async function metrics(agent: AgentProcess): Promise<Map<string, number>> {
  const text = await (await agent.http("/metrics")).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(conduit_agent_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

const outcome = (m: Map<string, number>, o: string) =>
  m.get(`conduit_agent_associations_total{outcome="${o}"}`) ?? 0;

Deno.test({
  name: "a P-DATA whose command set cannot be parsed is answered with A-ABORT at once, and logged",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess({ config: { dimse: { idleTimeoutSeconds: IDLE_SECONDS } } });
    const command = (value: Uint8Array, contextId = 1) =>
      pdataTf([{ contextId, command: true, last: true, value }]);
    const withLength = (bytes: Uint8Array, at: number, length: number) => {
      const copy = bytes.slice();
      new DataView(copy.buffer).setUint32(at, length, true);
      return copy;
    };
    const echo = cEchoRq(1);
    const cases: [string, Uint8Array[]][] = [
      ["random bytes as a command set", [command(noise(300, 0xc0ffee))]],
      ["an unknown command field (0x0555)", [
        command(commandSet({
          [CommandTag.AffectedSopClassUid]: { uid: SopClass.Verification },
          [CommandTag.CommandField]: { us: 0x0555 },
          [CommandTag.MessageId]: { us: 1 },
          [CommandTag.CommandDataSetType]: { us: 0x0101 },
        })),
      ]],
      ["no command field", [
        command(commandSet({
          [CommandTag.AffectedSopClassUid]: { uid: SopClass.Verification },
          [CommandTag.MessageId]: { us: 1 },
          [CommandTag.CommandDataSetType]: { us: 0x0101 },
        })),
      ]],
      // the first element after the group length (Affected SOP Class UID) announces 2 GiB
      ["an element length beyond the command set", [command(withLength(echo, 12 + 4, 0x7ffffff0))]],
      ["a group length that is not the command set's", [command(withLength(echo, 8, 0x00ffffff))]],
      ["a command set of 80 KiB, never ending", [
        ...Array.from(
          { length: 5 },
          () => pdataTf([{ contextId: 1, command: true, last: false, value: new Uint8Array(16 * 1024) }]),
        ),
      ]],
      ["a data set fragment with no command before it", [
        pdataTf([{ contextId: 3, command: false, last: true, value: noise(64, 9) }]),
      ]],
      ["a command while a data set is expected", [
        command(cStoreRq({ messageId: 1, sopClassUid: SopClass.CtImage, sopInstanceUid: "1.2.3.4" }), 3),
        pdataTf([{ contextId: 3, command: false, last: false, value: noise(64, 10) }]),
        command(echo),
      ]],
    ];
    try {
      for (const [what, pdus] of cases) {
        const { socket } = await associateWith(agent);
        const started = Date.now();
        try {
          for (const p of pdus) await socket.trySend(p);
          const answer = await socket.read(AT_ONCE_MS);
          assert.ok(
            answer.kind === "pdu" && answer.type === PduType.Abort,
            `${what}: expected A-ABORT within ${AT_ONCE_MS} ms, got ${describe(answer)}${await agentLog(
              agent,
            )}`,
          );
          assert.equal(decodeAbort(answer.body).source, 2, `${what}: A-ABORT from the service provider`);
          const end = await socket.untilClosed(AT_ONCE_MS);
          assert.ok(end.closed, `${what}: connection still open after the A-ABORT`);
          assert.ok(Date.now() - started < AT_ONCE_MS, `${what}: took ${Date.now() - started} ms`);
        } finally {
          await socket.close();
        }
      }
      const lines = (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) =>
        l.includes('"msg":"protocol error, association aborted"')
      );
      assert.equal(lines.length, cases.length, `one log line per abort${await agentLog(agent)}`);
      for (const line of lines) assert.ok(JSON.parse(line).reason, `a reason in ${line}`);
      await assertServing(agent);
      await assertNoLeftovers(agent, []);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "a second A-ASSOCIATE-RQ (or an -AC) on an established association is aborted, and its slot freed",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess({ config: { dimse: { idleTimeoutSeconds: IDLE_SECONDS } } });
    try {
      const again = associateRq({ calledAet: agent.aet, callingAet: "TWICE", contexts });
      const ac = pdu(PduType.AssociateAc, new Uint8Array(68));
      for (const [what, bytes] of [["A-ASSOCIATE-RQ", again], ["A-ASSOCIATE-AC", ac]] as const) {
        const { socket } = await associateWith(agent);
        try {
          await socket.send(bytes);
          const answer = await socket.read(AT_ONCE_MS);
          assert.ok(
            answer.kind === "pdu" && answer.type === PduType.Abort,
            `${what} on an established association: expected A-ABORT, got ${describe(answer)}`,
          );
          assert.deepEqual(decodeAbort(answer.body), { source: 2, reason: 2 }, "unexpected PDU");
          assert.ok((await socket.untilClosed(AT_ONCE_MS)).closed, "connection closed");
        } finally {
          await socket.close();
        }
      }
      const deadline = Date.now() + 3_000;
      let active = -1;
      while (Date.now() < deadline) {
        active = (await metrics(agent)).get("conduit_agent_associations_active") ?? -1;
        if (active === 0) break;
        await sleep(100);
      }
      assert.equal(active, 0, "every association slot is free again");
      await assertServing(agent);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "an A-RELEASE-RQ or A-ABORT whose body is not 4 bytes is answered with A-ABORT reason 6, and logged",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess({ config: { dimse: { idleTimeoutSeconds: IDLE_SECONDS } } });
    try {
      const cases = [
        ["A-RELEASE-RQ of 2 bytes", pdu(PduType.ReleaseRq, new Uint8Array(2))],
        ["A-RELEASE-RQ of 0 bytes", pdu(PduType.ReleaseRq, new Uint8Array(0))],
        ["A-ABORT of 1 bytes", pdu(PduType.Abort, new Uint8Array(1))],
      ] as const;
      for (const [what, bytes] of cases) {
        const { socket } = await associateWith(agent);
        try {
          await socket.send(bytes);
          const answer = await socket.read(AT_ONCE_MS);
          assert.ok(
            answer.kind === "pdu" && answer.type === PduType.Abort,
            `${what}: expected A-ABORT, got ${describe(answer)}`,
          );
          assert.deepEqual(decodeAbort(answer.body), { source: 2, reason: 6 }, what);
          assert.ok((await socket.untilClosed(AT_ONCE_MS)).closed, `${what}: connection closed`);
        } finally {
          await socket.close();
        }
        assert.ok((await agentLog(agent)).includes(`${what}, not 4`), `${what}: not logged`);
      }
      await assertServing(agent);
    } finally {
      await agent.stop();
    }
  },
});

/** Sends a C-STORE command and `pdus` data PDUs of a large object as fast as it can, none marked last. */
async function burst(
  socket: Awaited<ReturnType<typeof associateWith>>["socket"],
  pdus: number,
  dataset: Uint8Array,
) {
  const command = cStoreRq({
    messageId: 1,
    sopClassUid: SopClass.CtImage,
    sopInstanceUid: "1.2.826.0.1.3680043.2.1",
  });
  const chunk = 16 * 1024 - 6;
  const parts = [pdataTf([{ contextId: 3, command: true, last: true, value: command }])];
  for (let i = 0; i < pdus; i++) {
    const at = (i * chunk) % (dataset.length - chunk);
    parts.push(
      pdataTf([{ contextId: 3, command: false, last: false, value: dataset.subarray(at, at + chunk) }]),
    );
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, at), at += p.length;
  await socket.trySend(all);
}

Deno.test({
  name: "100 associations ending mid-object (close or A-ABORT with PDUs queued) leave no .part file",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess({ config: { dimse: { maxAssociations: 100 } } });
    const object = ctObject("queued");
    try {
      const ends = ["close", "abort", "abort-only"] as const;
      let opened = 0;
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 10 }, async (_, i) => {
          const n = round * 10 + i;
          const how = ends[n % ends.length];
          const { socket } = await associateWith(agent, `QUEUED${n}`);
          opened++;
          // a few PDUs to a few hundred: the end comes before, during and after the first data PDV is handled
          await burst(socket, [0, 1, 3, 40, 300][n % 5], object.dataset);
          if (how !== "close") await socket.trySend(abortPdu(0, 0));
          if (how === "abort-only") {
            // the peer aborts and keeps its connection open: the agent closes it
            const end = await socket.untilClosed(5_000);
            assert.ok(end.closed, `association ${n}: still open 5 s after the peer's A-ABORT`);
          }
          await socket.close();
        }));
      }
      assert.equal(opened, 100);
      const deadline = Date.now() + 10_000;
      let parts: string[] = [];
      while (Date.now() < deadline) {
        parts = await partialFiles(agent.dataDir);
        const active = (await metrics(agent)).get("conduit_agent_associations_active");
        if (parts.length === 0 && active === 0) break;
        await sleep(200);
      }
      assert.deepEqual(
        parts,
        [],
        `.part files left by associations that ended mid-object${await agentLog(agent)}`,
      );
      await assertServing(agent);
      await assertNoLeftovers(agent, []);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "association metrics: every accepted association ends as released, aborted, closed or protocol-abort",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess();
    const object = ctObject("metrics", { rows: 64, columns: 64 });
    try {
      const before = await metrics(agent);
      // 2 released
      for (let i = 0; i < 2; i++) {
        const { socket } = await associateWith(agent);
        await release(socket);
      }
      // 3 closed by the peer without release, one of them in the middle of an object
      for (let i = 0; i < 3; i++) {
        const { socket } = await associateWith(agent);
        if (i === 0) await burst(socket, 2, object.dataset);
        await socket.close();
      }
      // 2 aborted by the peer
      for (let i = 0; i < 2; i++) {
        const { socket } = await associateWith(agent);
        await socket.send(abortPdu(0, 0));
        await socket.close();
      }
      // 1 aborted by the agent on a protocol error
      {
        const { socket } = await associateWith(agent);
        await socket.send(pdataTf([{ contextId: 1, command: true, last: true, value: noise(100, 1) }]));
        await socket.untilClosed(AT_ONCE_MS);
        await socket.close();
      }
      // and one echo answered before its release, to check nothing else is counted
      {
        const { socket } = await associateWith(agent);
        await socket.send(pdataTf([{ contextId: 1, command: true, last: true, value: cEchoRq(1) }]));
        const rsp = await readCommand(socket);
        assert.equal(rsp.kind, "command");
        await release(socket);
      }
      const deadline = Date.now() + 5_000;
      let m = await metrics(agent);
      while (Date.now() < deadline && m.get("conduit_agent_associations_active") !== 0) {
        await sleep(100);
        m = await metrics(agent);
      }
      const delta = (o: string) => outcome(m, o) - outcome(before, o);
      assert.deepEqual(
        {
          accepted: delta("accepted"),
          released: delta("released"),
          closed: delta("closed"),
          aborted: delta("aborted"),
          protocolAbort: delta("protocol-abort"),
        },
        { accepted: 9, released: 3, closed: 3, aborted: 2, protocolAbort: 1 },
        `association outcomes${await agentLog(agent)}`,
      );
      assert.equal(m.get("conduit_agent_associations_active"), 0);
    } finally {
      await agent.stop();
    }
  },
});
