/**
 * A `storescu` whose link to the agent stalls in the middle of an object (TCP open, nothing more arrives):
 * the agent's idle timeout aborts that association, the partial object is neither archived nor indexed, no
 * staging file stays in the data directory, and the agent's descriptors and sockets go back to where they
 * were; the same object sent again afterwards is stored whole.
 */
import assert from "node:assert/strict";
import { held, runDcmtk, skipReason } from "../support/peers.ts";
import { indexRows, startAgentProcess } from "../support/agent.ts";
import { eventually } from "../support/hub.ts";
import { startProxy } from "../support/tcp_proxy.ts";
import { agentLog, assertNoLeftovers, assertServing, ctObject } from "../support/faults.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`stalled_sender_test: skipped: ${skip}`);

Deno.test({
  name: "a storescu stalled mid-object: the idle timeout aborts it, nothing partial is kept, nothing leaks",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const agent = await startAgentProcess({
      config: { dimse: { idleTimeoutSeconds: 2, artimTimeoutSeconds: 2 } },
    });
    const proxy = startProxy(agent.port);
    const object = ctObject("stalled-sender", { rows: 1024, columns: 1024 });
    const warm = ctObject("stalled-sender-warm", { rows: 64, columns: 64 });
    const file = await Deno.makeTempFile({ prefix: "conduit-stalled-sender-", suffix: ".dcm" });
    const warmFile = await Deno.makeTempFile({ prefix: "conduit-stalled-sender-", suffix: ".dcm" });
    const send = (port: number, path = file) =>
      runDcmtk("storescu", ["-aec", agent.aet, "127.0.0.1", String(port), path], { timeoutMs: 30_000 });
    try {
      await Deno.writeFile(file, object.bytes);
      await Deno.writeFile(warmFile, warm.bytes);
      // Warm up (the association code, the intake's staging files made ahead), then the baseline.
      assert.equal((await send(agent.port, warmFile)).code, 0);
      await assertNoLeftovers(agent, [warm.sopInstanceUid]);
      const before = held(agent.pid);
      proxy.stallAfter("toUpstream", 1_000_000, 1);
      const stalled = send(proxy.port);
      await eventually("the object stalled 1 MB in", () => proxy.stalled === 1 || undefined);
      // The agent aborts: its side of the connection closes, and the proxy with it.
      await eventually(
        "the agent dropped the stalled association",
        () => proxy.open === 0 || undefined,
        15_000,
      );
      const result = await stalled;
      assert.notEqual(result.code, 0, "storescu reported success for an object cut short");
      await assertNoLeftovers(agent, [warm.sopInstanceUid]);
      assert.deepEqual(
        indexRows(agent.dataDir, "SELECT sop_instance_uid AS sop FROM instances").map((r) => r.sop),
        [warm.sopInstanceUid],
        "the partial object was indexed",
      );
      let now = held(agent.pid);
      await eventually("descriptors and sockets as before", () => {
        now = held(agent.pid);
        return now.fds <= before.fds && now.sockets <= before.sockets || undefined;
      }, 10_000).catch(async (err) => {
        throw new Error(
          `${err.message}: ${JSON.stringify(now)}, before ${JSON.stringify(before)}${await agentLog(agent)}`,
        );
      });
      // Sent again, directly: stored whole.
      const again = await send(agent.port);
      assert.equal(again.code, 0, again.stderr);
      await assertNoLeftovers(agent, [warm.sopInstanceUid, object.sopInstanceUid]);
      await assertServing(agent);
    } finally {
      await agent.stop();
      proxy.close();
      await Deno.remove(file).catch(() => {});
      await Deno.remove(warmFile).catch(() => {});
    }
  },
});
