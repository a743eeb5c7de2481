/**
 * The agent's and the hub's /metrics as a Prometheus server reads them: parsed strictly by the text format's
 * rules (no promtool here), each family with one HELP and TYPE before its samples, no series twice,
 * histograms whole, and no UID or patient data in any label; and counters that move as operations.md says.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { startAgentProcess } from "../support/agent.ts";
import { siteArgs, startTestHub } from "../support/hub.ts";
import { eventually } from "../support/hub.ts";
import { freePort, runDcmtk, scratchDir, skipReason, startStorescp } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { assertNoPhi, parsePrometheus, value } from "../support/prometheus.ts";

const skip = skipReason("storescu", "storescp", "echoscu");
if (skip) console.warn(`metrics_test: skipped: ${skip}`);

Deno.test({
  name: "the agent's and the hub's /metrics parse as Prometheus text and move as documented",
  ignore: Boolean(skip),
  fn: async () => {
    const dir = await scratchDir("metrics-");
    const scp = await startStorescp({ dir: path.join(dir, "scp") });
    const metricsPort = freePort();
    const hub = await startTestHub({ metricsPort });
    const agent = await startAgentProcess({
      args: await siteArgs(hub, "north"),
      config: {
        dimse: { allowedCallingAets: ["STORESCU", "ECHOSCU"] },
        nodes: { dest: { aet: scp.aet, host: "127.0.0.1", port: scp.port } },
        routes: [{ name: "all", match: {}, to: [{ node: "dest" }] }],
      },
    });
    try {
      const scrape = async () => parsePrometheus(await (await agent.http("/metrics")).text());
      const before = await scrape();
      const file = path.join(dir, "ct.dcm");
      const sop = uidFromKey("metrics/sop");
      await Deno.writeFile(
        file,
        generateInstance({
          modality: "CT",
          patientName: "METRICS^PATIENT",
          patientId: "METRICS-ID-1",
          studyInstanceUid: uidFromKey("metrics/study"),
          seriesInstanceUid: uidFromKey("metrics/series"),
          sopInstanceUid: sop,
          instanceNumber: 1,
          rows: 64,
          columns: 64,
        }),
      );
      assert.equal((await storescu([file], agent)).code, 0);
      // A calling AE title not allowed: rejected.
      const refused = await runDcmtk("echoscu", [
        "-aet",
        "INTRUDER",
        "-aec",
        agent.aet,
        "127.0.0.1",
        String(agent.port),
      ]);
      assert.notEqual(refused.code, 0);
      const after = await eventually("the object forwarded", async () => {
        const m = await scrape();
        // The row's done mark is committed with its group (up to 25 ms after the attempt is counted).
        const done = value(m, "conduit_agent_forward_attempts_total", {
          destination: "dest",
          outcome: "done",
        });
        const rows = value(m, "conduit_agent_queue_rows", { destination: "dest", state: "done" });
        return done === 1 && rows === 1 ? m : undefined;
      });
      const size = (await Deno.stat(file)).size;
      const delta = (name: string, labels: Record<string, string> = {}) =>
        value(after, name, labels) - value(before, name, labels);
      assert.equal(delta("conduit_agent_associations_total", { outcome: "accepted" }), 1);
      assert.equal(delta("conduit_agent_associations_total", { outcome: "released" }), 1);
      assert.equal(delta("conduit_agent_associations_total", { outcome: "rejected" }), 1);
      assert.equal(delta("conduit_agent_objects_received_total", { status: "0x0000" }), 1);
      assert.equal(delta("conduit_agent_objects_stored_total"), 1);
      // File bytes: the agent's own File Meta group and the data set as sent.
      const received = delta("conduit_agent_bytes_received_total");
      assert.ok(Math.abs(received - size) < 512, `${received} bytes counted for a file of ${size}`);
      assert.equal(delta("conduit_agent_bytes_stored_total"), received);
      assert.equal(delta("conduit_agent_forward_latency_seconds_count", { destination: "dest" }), 1);
      assert.equal(value(after, "conduit_agent_associations_active"), 0);
      for (
        const name of [
          "conduit_agent_process_cpu_seconds_total",
          "conduit_agent_process_resident_memory_bytes",
          "conduit_agent_process_start_time_seconds",
          "conduit_agent_nodejs_heap_size_used_bytes",
          "conduit_agent_nodejs_eventloop_lag_seconds",
        ]
      ) assert.ok(after.has(name), `${name} reported`);
      const phi = ["METRICS^PATIENT", "METRICS", "METRICS-ID-1"];
      assertNoPhi(after, phi);

      // The hub's, on its metrics port (no token) and with the site connected.
      const hubText = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const hubFamilies = parsePrometheus(hubText);
      assertNoPhi(hubFamilies, phi);
      assert.ok([...hubFamilies.keys()].some((n) => n.startsWith("conduit_hub_")), "hub metrics");
    } finally {
      await agent.stop();
      await hub.stop();
      await scp.stop();
    }
  },
});
