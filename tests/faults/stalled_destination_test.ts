/**
 * A DIMSE destination whose link stalls in the middle of a C-STORE's data set (the association and command
 * went through; then no byte moves, the TCP connection stays open): the forward's idle timeout aborts the
 * association, the row records why (the timeout and its setting, not a bare "association closed"), and it is
 * retried on a fresh association; every object reaches the PACS, none is lost. Until 2026-12-05 the row said
 * only "association closed before the C-STORE response", as if the PACS had closed it.
 */
import assert from "node:assert/strict";
import { skipReason, startOrthanc } from "../support/peers.ts";
import { queueRows, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { startProxy } from "../support/tcp_proxy.ts";
import { ctObject } from "../support/faults.ts";

const skip = skipReason("storescu", "/usr/sbin/Orthanc");
if (skip) console.warn(`stalled_destination_test: skipped: ${skip}`);

const IDLE_SECONDS = 2;

Deno.test({
  name:
    "a destination stalled mid C-STORE: the idle timeout aborts, says so, and a fresh association delivers",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const orthanc = await startOrthanc({ storageDir: await Deno.makeTempDir({ prefix: "stalled-dest-" }) });
    const proxy = startProxy(orthanc.port);
    const agent = await startAgentProcess({
      config: {
        dimse: { idleTimeoutSeconds: IDLE_SECONDS, artimTimeoutSeconds: IDLE_SECONDS },
        queue: { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 50 },
        nodes: { pacs: { aet: orthanc.aet, host: "127.0.0.1", port: proxy.port } },
        routes: [{ name: "all", to: [{ node: "pacs" }] }],
      },
    });
    const dir = await Deno.makeTempDir({ prefix: "stalled-dest-src-" });
    try {
      // 2 MB each: the first association stalls 1 MB into its first data set.
      const objects = [0, 1, 2].map((i) => ctObject(`stalled-dest-${i}`, { rows: 1024, columns: 1024 }));
      const files = await Promise.all(objects.map(async (o, i) => {
        await Deno.writeFile(`${dir}/${i}.dcm`, o.bytes);
        return `${dir}/${i}.dcm`;
      }));
      proxy.stallAfter("toUpstream", 1_000_000, 1);
      const sent = await storescu(files, agent, [], 60_000);
      assert.equal(sent.code, 0, sent.stderr);
      await eventually("the first association stalled", () => proxy.stalled === 1 || undefined);
      const failed = await eventually("the stalled attempt failed", async () => {
        return (await queueRows(agent)).find((r) => r.lastError);
      }, 30_000);
      // Either timer of the same length may fire first on a loaded machine (the idle timeout, counted from the
      // last PDU received; the C-STORE's response time limit, counted from its start): each names itself and
      // its time, never "association closed before the C-STORE response" as if the PACS had closed it.
      const said = new RegExp(
        `idle timeout, dimse\\.idleTimeoutSeconds\\): .*|^no PDU from the peer for ${IDLE_SECONDS} s|` +
          `^no C-STORE response within ${IDLE_SECONDS * 1000} ms`,
      );
      assert.match(failed.lastError, said);
      assert.doesNotMatch(failed.lastError, /association closed before/);
      assert.ok(!failed.lastError.includes(failed.sopInstanceUid), "no UID in the error");
      const rows = await eventually("every row done", async () => {
        const r = await queueRows(agent);
        return r.length === objects.length && r.every((x) => x.state === "done") ? r : undefined;
      }, 30_000);
      assert.ok(rows.some((r) => r.attempts >= 2), "the stalled object was sent again");
      // The retry came on a new connection, not on the stalled association.
      assert.ok(proxy.accepted >= 2, `${proxy.accepted} connections to the PACS`);
      assert.equal((await orthanc.instances()).length, objects.length, "every object at the PACS once");
      const log = await Deno.readTextFile(agent.logFile);
      assert.match(log, /"msg":"forward attempt failed".*(idle timeout|no C-STORE response within)/);
    } finally {
      await agent.stop();
      proxy.close();
      await orthanc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
