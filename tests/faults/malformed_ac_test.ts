/**
 * The agent as requester, answered by a peer that sends a malformed A-ASSOCIATE-AC (or garbage) where the
 * AC should be: the operation fails with an error naming the peer and what was wrong with its answer,
 * never a bare "closed during negotiation" or a wait for the timeout. A real peer (DCMTK, Orthanc) cannot
 * be made to send these, so a tiny TCP peer here answers each A-ASSOCIATE-RQ with the next bad answer.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { associateAc, concat, ContextResult, pdu, PduType } from "../support/pdu.ts";
import { agentLog, noise } from "../support/faults.ts";

/** A well-formed A-ASSOCIATE-AC for context 1 (the echo's), as the bad ones below alter it. */
function goodAc(
  contexts = [{ id: 1, result: ContextResult.Acceptance, transferSyntax: "1.2.840.10008.1.2" }],
) {
  return associateAc({ calledAet: "ODD", callingAet: "CONDUIT", contexts, maxPduLength: 16384 });
}

/** `bytes` with its PDU length field (bytes 2..5) set to `length`. */
function withLength(bytes: Uint8Array, length: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(2, length, false);
  return copy;
}

/** The first presentation context item of an AC (after the 68 fixed bytes and the 25-byte context item 0x10). */
function firstContextItemAt(ac: Uint8Array): number {
  for (let at = 6 + 68; at + 4 <= ac.length; at += 4 + ((ac[at + 2] << 8) | ac[at + 3])) {
    if (ac[at] === 0x21) return at;
  }
  throw new Error("no presentation context item");
}

/** Each bad answer and the words the error must have. */
const ANSWERS: [string, () => Uint8Array, RegExp][] = [
  [
    "garbage instead of a PDU",
    () => noise(512, 0xac),
    /answered with a bad PDU: .*(unrecogni[sz]ed|PDU type)/,
  ],
  [
    "an A-ASSOCIATE-AC whose length says more than is sent",
    () => {
      const ac = goodAc();
      return withLength(ac, ac.length - 6 + 100);
    },
    /closed the connection inside its answer: \d+ bytes of a PDU whose length says more/,
  ],
  [
    "an A-ASSOCIATE-AC without a presentation context item",
    () => goodAc([]),
    /answered with a bad PDU: A-ASSOCIATE-AC without a presentation context item/,
  ],
  [
    "an A-ASSOCIATE-AC whose presentation context item runs past the PDU",
    () => {
      const ac = goodAc();
      const at = firstContextItemAt(ac);
      new DataView(ac.buffer).setUint16(at + 2, 0x4000, false);
      return ac;
    },
    /answered with a bad PDU: A-ASSOCIATE-AC: item 0x21 runs past the PDU/,
  ],
  [
    "an accepted presentation context without its transfer syntax",
    () => {
      const ac = goodAc();
      const at = firstContextItemAt(ac);
      const item = concat([new Uint8Array([0x21, 0, 0, 4, 1, 0, 0, 0])]);
      const itemLength = 4 + ((ac[at + 2] << 8) | ac[at + 3]);
      const body = concat([ac.subarray(6, at), item, ac.subarray(at + itemLength)]);
      return pdu(PduType.AssociateAc, body);
    },
    /answered with a bad PDU: A-ASSOCIATE-AC: presentation context 1 accepted without a transfer syntax/,
  ],
];

/** Answers the n-th A-ASSOCIATE-RQ with ANSWERS[n], then closes. */
function badPeer(): { port: number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let n = 0;
  (async () => {
    for await (const conn of listener) {
      const answer = ANSWERS[n++ % ANSWERS.length][1]();
      (async () => {
        try {
          await conn.read(new Uint8Array(64 * 1024)); // the A-ASSOCIATE-RQ (or its first part)
          await conn.write(answer);
        } catch { /* the agent aborted first */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {/* listener closed */});
  return { port: (listener.addr as Deno.NetAddr).port, close: () => listener.close() };
}

Deno.test({
  name: "a malformed A-ASSOCIATE-AC fails the operation with an error naming the peer and what was wrong",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const peer = badPeer();
    const agent = await startAgentProcess({
      config: { nodes: { odd: { aet: "ODD", host: "127.0.0.1", port: peer.port } } },
    });
    try {
      for (const [what, , words] of ANSWERS) {
        const res = await agent.http("/nodes/odd/echo", { method: "POST" });
        const body = await res.json();
        assert.equal(res.status, 502, `${what}: ${JSON.stringify(body)}`);
        assert.match(body.error, new RegExp(`^ODD at 127\\.0\\.0\\.1:${peer.port} `), what);
        assert.match(body.error, words, what);
      }
      // The log says it too, at the moment of the abort.
      assert.match(
        await agentLog(agent),
        /protocol error, association aborted.*A-ASSOCIATE-AC without a presentation/,
      );
      // And the agent goes on: the same node, answered properly, would be echoed (not checked here); the
      // agent's own port still serves.
      assert.equal((await agent.http("/healthz")).status, 200);
    } finally {
      await agent.stop();
      peer.close();
    }
  },
});
