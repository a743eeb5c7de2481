/**
 * PS3.18 10.4 WADO-RS streams: a 1 GB study leaves the hub part by part (the first bytes arrive long
 * before the last object left the site) and the hub's memory stays flat.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { eventually, hubAdmin, startHubProcess } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu");
if (skip) console.warn(`streaming_test: skipped: ${skip}`);

function status(pid: number, field: "VmRSS" | "VmHWM"): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(Deno.readTextFileSync(`/proc/${pid}/status`))![1]) /
    1024;
}

Deno.test({
  name: "PS3.18 10.4 WADO-RS of a 1 GB study streams through the hub in flat memory",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The study is written while the hub and the agent start (processes of their own).
    const dir = await Deno.makeTempDir({ prefix: "gigabyte-" });
    // 100 objects of 10 MB of pixel data each: 1 GB.
    const written = writeGeneratedSeries(dir, { count: 100, pixelBytes: 10_000_000, seed: "gigabyte" });
    written.catch(() => {}); // awaited below
    const hub = await startHubProcess();
    const token = String(
      (await hubAdmin(hub.dataDir, ["token", "create", "t", "--role", "viewer", "--json"])).json!.token,
    );
    const enroll = String(
      (await hubAdmin(hub.dataDir, ["site", "add", "north", "--json"])).json!.enrollmentToken,
    );
    const agent = await startAgentProcess({
      args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", enroll],
    });
    try {
      const series = await written;
      const sent = await storescu(series.paths, agent, [], 300_000);
      assert.equal(sent.code, 0, sent.stderr);
      await Deno.remove(dir, { recursive: true });
      await eventually("north online", async () => {
        const r = await fetch(`http://127.0.0.1:${hub.port}/healthz`);
        return (await r.json()).sites === 1 || undefined;
      });
      const before = status(hub.pid, "VmRSS");
      const t0 = performance.now();
      const res = await fetch(
        `http://127.0.0.1:${hub.port}/dicomweb/sites/north/studies/${series.studyUid}`,
        {
          headers: {
            authorization: `Bearer ${token}`,
            accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
          },
        },
      );
      assert.equal(res.status, 200);
      const reader = res.body!.getReader();
      let first = -1;
      let bytes = 0;
      let peak = before;
      let samples = 0;
      while (true) {
        const r = await reader.read();
        if (r.done) break;
        if (first < 0) first = performance.now() - t0;
        bytes += r.value.byteLength;
        if (++samples % 200 === 0) peak = Math.max(peak, status(hub.pid, "VmRSS"));
      }
      const total = performance.now() - t0;
      peak = Math.max(peak, status(hub.pid, "VmRSS"));
      console.log(
        `1 GB study: first byte ${first.toFixed(0)} ms, all ${total.toFixed(0)} ms, hub RSS ${
          before.toFixed(0)
        } -> ${peak.toFixed(0)} MB`,
      );
      assert.ok(bytes > 1_000_000_000, `${bytes} bytes`);
      assert.ok(first < total / 10, "the first part left long before the last object did");
      assert.ok(peak - before < 100, `hub RSS grew ${(peak - before).toFixed(0)} MB for a 1 GB study`);
    } finally {
      await agent.stop();
      await hub.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
