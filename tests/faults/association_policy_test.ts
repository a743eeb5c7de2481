/**
 * The DIMSE association policy against bad peers: a calling AE title not allowed, a wrong called AE
 * title, more associations than `maxAssociations`, and a stalled association, each answered with the
 * right A-ASSOCIATE-RJ (checked on the wire and with DCMTK `echoscu`) or dropped after the idle timeout,
 * the agent serving afterwards with no file left behind.
 */
import assert from "node:assert/strict";
import { SopClass } from "@conduit/shared/dicom";
import { runDcmtk, scratchDir, sleep, startStorescp } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import {
  associate,
  associateAc,
  associateRq,
  cEchoRq,
  ContextResult,
  decodeAssociateRj,
  describe,
  pdataTf,
  PduSocket,
  PduType,
  readCommand,
  release,
  requestAssociation,
} from "../support/pdu.ts";
import {
  agentLog,
  assertNoLeftovers,
  assertOnlyRefusals,
  assertProviderAbort,
  assertServing,
} from "../support/faults.ts";
import { DROP_SLACK_MS, IMPLICIT_LE, skip, TIMEOUTS } from "./_bad_input.ts";

if (skip) console.warn(`association_policy_test: skipped: ${skip}`);

Deno.test({
  name: "bad input: association policy (calling and called AE titles, association limit, stalled peers)",
  ignore: !!skip,
  fn: async (t) => {
    const aet = "POLICY";
    const agent = await startAgentProcess({
      aet,
      config: {
        dimse: { aet, allowedCallingAets: ["GOOD"], checkCalledAet: true, maxAssociations: 1, ...TIMEOUTS },
        // A node that asks for Storage Commitment, whose title the list leaves out (its reports would be refused).
        nodes: { pacs: { aet: "PACSCOMMIT", host: "127.0.0.1", port: 1, storageCommitment: true } },
      },
    });
    const verification = [{ id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] }];
    const echoscu = (calling: string, called: string) =>
      runDcmtk("echoscu", ["-aet", calling, "-aec", called, "127.0.0.1", String(agent.port)], {
        timeoutMs: 15_000,
      });
    const expectReject = async (calling: string, called: string, expected: object, what: string) => {
      const { socket, answer } = await requestAssociation(agent.port, {
        calledAet: called,
        callingAet: calling,
        contexts: verification,
      });
      try {
        assert.ok(
          answer.kind === "pdu" && answer.type === PduType.AssociateRj,
          `${what}: ${describe(answer)}`,
        );
        assert.deepEqual(decodeAssociateRj(answer.body), expected, what);
      } finally {
        await socket.close();
      }
      const echo = await echoscu(calling, called);
      assert.notEqual(echo.code, 0, `${what}: echoscu succeeded`);
      assert.match(echo.stdout + echo.stderr, /reject/i, `${what}: ${echo.stdout}${echo.stderr}`);
    };
    /** echoscu succeeds, retrying briefly while the agent counts a closed association down. */
    const expectEcho = async (what: string) => {
      const deadline = Date.now() + 3_000;
      for (;;) {
        const echo = await echoscu("GOOD", aet);
        if (echo.code === 0) break;
        if (Date.now() > deadline) {
          assert.fail(`${what}: echoscu failed: ${echo.stdout}${echo.stderr}${await agentLog(agent)}`);
        }
        await sleep(200);
      }
    };
    try {
      await t.step("5a. a calling AE title not allowed: A-ASSOCIATE-RJ 1/1/3", async () => {
        await expectReject("BAD", aet, { result: 1, source: 1, reason: 3 }, "calling AE BAD");
        await expectEcho("allowed calling AE");
        // A configured node refused so is warned of, at start and at each refusal, naming the node (until
        // 2026-12-07 an info line, and a node's Storage Commitment reports were refused unnoticed).
        await expectReject("PACSCOMMIT", aet, { result: 1, source: 1, reason: 3 }, "calling AE PACSCOMMIT");
        const lines = (await Deno.readTextFile(agent.logFile)).split("\n").filter((l) => l.startsWith("{"))
          .map((l) => JSON.parse(l));
        assert.ok(
          lines.some((l) => l.level === "warn" && /node pacs asks for Storage Commitment/.test(l.msg)),
        );
        const refused = lines.filter((l) => l.msg === "association rejected");
        assert.deepEqual(
          refused.map((l) => [l.level, l.callingAet, l.node]).filter(([, c]) => c !== "GOOD"),
          [
            ["info", "BAD", undefined],
            ["info", "BAD", undefined],
            ["warn", "PACSCOMMIT", "pacs"],
            ["warn", "PACSCOMMIT", "pacs"],
          ],
        );
      });

      await t.step("5b. a wrong called AE title: A-ASSOCIATE-RJ 1/1/7", async () => {
        await expectReject("GOOD", "WRONG", { result: 1, source: 1, reason: 7 }, "called AE WRONG");
        await expectEcho("right called AE");
      });

      await t.step("5c. beyond maxAssociations: A-ASSOCIATE-RJ 2/3/2", async () => {
        const held = await associate(agent.port, {
          calledAet: aet,
          callingAet: "GOOD",
          contexts: verification,
        });
        try {
          await expectReject("GOOD", aet, { result: 2, source: 3, reason: 2 }, "second association");
          await release(held.socket);
        } finally {
          await held.socket.close();
        }
        await expectEcho("after the held association was released");
      });

      await t.step(
        "5d. a stalled association is dropped after the idle timeout and frees its slot",
        async () => {
          const held = await associate(agent.port, {
            calledAet: aet,
            callingAet: "GOOD",
            contexts: verification,
          });
          try {
            const limit = TIMEOUTS.idleTimeoutSeconds * 1000 + DROP_SLACK_MS;
            const end = await held.socket.untilClosed(limit);
            assert.ok(end.closed, `stalled association still open after ${limit} ms${await agentLog(agent)}`);
            assertOnlyRefusals(end.pdus, "stalled association");
            // The stalled peer never closes its end; the slot must be free all the same.
            await expectEcho("while the dropped peer still holds its socket");
          } finally {
            await held.socket.close();
          }
        },
      );
      await assertServing(agent, "GOOD");
      await assertNoLeftovers(agent, []);
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "bad input: a peer's maximum PDU length too small to send within is refused, as SCP and as SCU",
  ignore: !!skip,
  fn: async () => {
    // A fake SCP that accepts every association with a maximum PDU length of 6 bytes: no room for data.
    const fake = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = (async () => {
      for await (const conn of fake) {
        const socket = PduSocket.accepted(conn);
        const rq = await socket.read(10_000);
        if (rq.kind === "pdu" && rq.type === PduType.AssociateRq) {
          await socket.send(associateAc({
            calledAet: "TINY",
            callingAet: "CONDUIT",
            contexts: [{ id: 1, result: ContextResult.Acceptance, transferSyntax: IMPLICIT_LE }],
            maxPduLength: 6,
          })).catch(() => {});
        }
        await socket.untilClosed(10_000);
        await socket.close();
      }
    })().catch(() => {});
    const agent = await startAgentProcess({
      config: {
        dimse: TIMEOUTS,
        nodes: { tiny: { aet: "TINY", host: "127.0.0.1", port: fake.addr.port } },
      },
    });
    try {
      // As SCP: a C-FIND response's identifier cut in PDVs of (maximum - 6) bytes would never end.
      for (const maxPduLength of [6, 1023]) {
        const { socket, answer } = await requestAssociation(agent.port, {
          calledAet: agent.aet,
          callingAet: "GOOD",
          maxPduLength,
          contexts: [{ id: 1, abstractSyntax: SopClass.StudyRootFind, transferSyntaxes: [IMPLICIT_LE] }],
        });
        try {
          assert.ok(answer.kind === "pdu" && answer.type === PduType.AssociateRj, describe(answer));
          assert.deepEqual(decodeAssociateRj(answer.body), { result: 1, source: 1, reason: 1 });
        } finally {
          await socket.close();
        }
      }
      assert.match(await agentLog(agent), /maximum PDU length 6 below 1024/);
      // 0 is no limit: served.
      const { socket } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "GOOD",
        maxPduLength: 0,
        contexts: [{ id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] }],
      });
      try {
        await socket.send(pdataTf([{ contextId: 1, command: true, last: true, value: cEchoRq(1) }]));
        const echo = await readCommand(socket);
        assert.equal(echo.kind === "command" ? echo.command.status : describe(echo.received), 0);
        await release(socket);
      } finally {
        await socket.close();
      }
      // As SCU: the agent gives up on such a node with the reason, instead of hanging on its first data set.
      const res = await fetch(`http://127.0.0.1:${agent.httpPort}/nodes/tiny/echo`, { method: "POST" });
      const body = await res.text();
      assert.match(body, /announced a maximum PDU length of 6, below the 1024/);
      await assertServing(agent, "GOOD");
    } finally {
      await agent.stop();
      fake.close();
      await served;
    }
  },
});

Deno.test({
  name: "bad input: a presentation context offering no transfer syntax is answered 4, the others accepted",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess();
    try {
      const { socket, ac } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "GOOD",
        contexts: [
          { id: 1, abstractSyntax: "1.2.840.10008.5.1.4.1.1.7", transferSyntaxes: [] },
          { id: 3, abstractSyntax: SopClass.Verification, transferSyntaxes: [] },
          { id: 5, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] },
        ],
      });
      try {
        assert.deepEqual(ac.contexts.map((c) => [c.id, c.result]), [
          [1, ContextResult.TransferSyntaxesNotSupported],
          [3, ContextResult.TransferSyntaxesNotSupported],
          [5, ContextResult.Acceptance],
        ]);
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
    "bad input: an A-ASSOCIATE-RQ without protocol version 1 or DICOM's application context is refused as storescp does",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess();
    const storescp = await startStorescp({ dir: await scratchDir("rq-storescp") });
    const refusal = async (port: number, rq: { applicationContext?: string; protocolVersion?: number }) => {
      const { socket, answer } = await requestAssociation(port, {
        calledAet: "ANY",
        callingAet: "GOOD",
        contexts: [{ id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] }],
        ...rq,
      });
      await socket.close();
      assert.ok(answer.kind === "pdu" && answer.type === PduType.AssociateRj, describe(answer));
      return decodeAssociateRj(answer.body);
    };
    const cases = [
      { rq: { applicationContext: "1.2.3.4" }, rj: { result: 1, source: 1, reason: 2 } },
      { rq: { applicationContext: "1.2.840.10008.3.1.1.2" }, rj: { result: 1, source: 1, reason: 2 } },
      { rq: { protocolVersion: 2 }, rj: { result: 1, source: 2, reason: 2 } },
      { rq: { protocolVersion: 0 }, rj: { result: 1, source: 2, reason: 2 } },
    ];
    try {
      for (const { rq, rj } of cases) {
        const what = JSON.stringify(rq);
        assert.deepEqual(await refusal(storescp.port, rq), rj, `storescp, ${what}`);
        assert.deepEqual(await refusal(agent.port, rq), rj, `agent, ${what}`);
      }
      // Version bits beside bit 0 are accepted (storescp too).
      const { socket, ac } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "GOOD",
        contexts: [{ id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] }],
        protocolVersion: 3,
      });
      assert.equal(ac.contexts[0].result, ContextResult.Acceptance);
      await release(socket);
      await socket.close();
      const log = await agentLog(agent);
      assert.match(log, /application context name \\"1\.2\.3\.4\\" not supported/);
      assert.match(log, /protocol version 0x2 not supported/);
      await assertServing(agent, "GOOD");
    } finally {
      await storescp.stop();
      await agent.stop();
    }
  },
});

Deno.test({
  name:
    "bad input: a presentation context ID proposed twice is refused 1/1/1, never answered under an ID not proposed",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess();
    try {
      const { socket, answer } = await requestAssociation(agent.port, {
        calledAet: agent.aet,
        callingAet: "GOOD",
        contexts: [
          { id: 1, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxes: ["1.2.840.10008.1.2.1"] },
          { id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] },
        ],
      });
      await socket.close();
      assert.ok(answer.kind === "pdu" && answer.type === PduType.AssociateRj, describe(answer));
      assert.deepEqual(decodeAssociateRj(answer.body), { result: 1, source: 1, reason: 1 });
      assert.match(await agentLog(agent), /presentation context ID 1 proposed twice/);
      await assertServing(agent, "GOOD");
    } finally {
      await agent.stop();
    }
  },
});

Deno.test({
  name: "bad input: an A-ASSOCIATE-RQ whose items run past their lengths is aborted (reason 6) and logged",
  ignore: !!skip,
  fn: async () => {
    const agent = await startAgentProcess();
    const rq = associateRq({
      calledAet: agent.aet,
      callingAet: "GOOD",
      contexts: [{ id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] }],
      scpRoles: [SopClass.CtImage],
    });
    /** The RQ with the 16-bit length of its first item of `type` (or of that sub-item of user information) set. */
    const withLength = (type: number, length: number, sub?: number) => {
      const bytes = rq.slice();
      const view = new DataView(bytes.buffer);
      let at = 74;
      while (bytes[at] !== type) at += 4 + view.getUint16(at + 2);
      if (sub !== undefined) { for (at += 4; bytes[at] !== sub;) at += 4 + view.getUint16(at + 2); }
      view.setUint16(at + 2, length);
      return bytes;
    };
    const cases: [string, Uint8Array, RegExp][] = [
      [
        "a presentation context item longer than the PDU",
        withLength(0x20, 0xfff0),
        /item 0x20 runs past the PDU/,
      ],
      ["a maximum length sub-item of 2 bytes", withLength(0x50, 2, 0x51), /sub-item 0x51 of 2 bytes/],
      [
        "a role selection sub-item longer than its UID says",
        withLength(0x50, 0x40, 0x54),
        /runs past its item/,
      ],
    ];
    try {
      for (const [what, bytes, logged] of cases) {
        const socket = await PduSocket.connect(agent.port);
        try {
          await socket.send(bytes);
          await assertProviderAbort(socket, 6, what);
        } finally {
          await socket.close();
        }
        assert.match(await agentLog(agent), logged, what);
      }
      // The same RQ as built is accepted, with its role selection answered.
      const { socket } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "GOOD",
        contexts: [{ id: 1, abstractSyntax: SopClass.Verification, transferSyntaxes: [IMPLICIT_LE] }],
        scpRoles: [SopClass.CtImage],
      });
      await release(socket);
      await socket.close();
      await assertServing(agent, "GOOD");
    } finally {
      await agent.stop();
    }
  },
});
