/**
 * A peer that sends requests and reads none of their answers (a flood of C-ECHOs) does not hold the agent's
 * event loop: an association's backlog of PDUs lets the loop turn every 20 ms, so other callers are answered
 * meanwhile (before 2026-12-05, 16 MB of C-ECHO-RQs held it for 25-55 s and a C-ECHO of another caller timed
 * out), and the agent stops reading the peer's requests once it owes it 1 MiB of answers not yet taken.
 */
import assert from "node:assert/strict";
import { SopClass, TransferSyntax } from "@conduit/shared/dicom";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { associate, cEchoRq, pdataTf } from "../support/pdu.ts";
import { agentMetric, assertServing } from "../support/faults.ts";
import { eventually } from "../support/hub.ts";

const skip = skipReason("echoscu");
if (skip) console.warn(`dimse_flood_test: skipped: ${skip}`);

/** How many C-ECHO-RQs the peer writes at most: about 10 MB of them. */
const ECHOES = 100_000;

Deno.test({
  name: "a peer flooding C-ECHOs and reading nothing: others are answered meanwhile, its association ends",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const agent = await startAgentProcess({ config: { dimse: { idleTimeoutSeconds: 5 } } });
    try {
      const { socket } = await associate(agent.port, {
        calledAet: agent.aet,
        callingAet: "FLOOD",
        contexts: [{
          id: 1,
          abstractSyntax: SopClass.Verification,
          transferSyntaxes: [TransferSyntax.ImplicitVRLittleEndian],
        }],
      });
      // The requests, a few thousand to a write, sent for as long as the agent takes them; nothing is read.
      const one = pdataTf([{ contextId: 1, command: true, last: true, value: cEchoRq(1) }]);
      const batch = new Uint8Array(one.length * 2000);
      for (let i = 0; i < 2000; i++) batch.set(one, i * one.length);
      let sent = 0;
      const flooding = (async () => {
        try {
          for (let n = 0; n < ECHOES; n += 2000) {
            await socket.send(batch);
            sent += batch.length;
          }
        } catch { /* the agent ended the association */ }
      })();
      // 2 MiB written: past the 1 MiB of answers the agent owes before it stops reading, so a backlog is there.
      // (4 MiB timed out once in a CI run under load: the kernel's socket buffers shrink under memory pressure,
      // and what the agent stops reading stays in them.)
      await eventually("the flood under way", () => sent > 2 << 20 || undefined);
      // Another caller is answered while the flood goes on (echoscu waits 15 s at most).
      const started = performance.now();
      await assertServing(agent);
      const waited = performance.now() - started;
      assert.ok(
        waited < 10_000,
        `a C-ECHO of another caller waited ${Math.round(waited)} ms behind the flood`,
      );
      // The flood ends (its peer hangs up): the agent lets the association go and serves as before.
      await socket.close().catch(() => {});
      await flooding;
      await eventually(
        "the flooding association ended",
        async () => (await agentMetric(agent, "conduit_agent_associations_active")) === 0 || undefined,
        60_000,
      );
      await assertServing(agent);
    } finally {
      await agent.stop();
    }
  },
});
