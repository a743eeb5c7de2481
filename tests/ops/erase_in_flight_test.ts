/**
 * A study erased while its objects are on their way to a slow node: the rows a worker had claimed go with
 * the erasure, and the worker's later attempts find neither file nor row: not sent, and not counted as the
 * destination's failures (until 2026-12-08 each was a failed attempt, status "association", which the
 * forward alerts and dashboards read as a failing node).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { queueRows, startAgentProcess } from "../support/agent.ts";
import { agentMetric } from "../support/faults.ts";
import { eventually } from "../support/hub.ts";
import { scratchDir, skipReason, startStorescp } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("storescu", "storescp");

Deno.test({
  name: "objects erased while queued for a slow node are not sent, nor counted as its failures",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("conduit-erase-in-flight-");
    const series = await writeGeneratedSeries(path.join(dir, "in"), { count: 6, rows: 16, columns: 16 });
    // A node that takes a second per object.
    const slow = await startStorescp({
      dir: path.join(dir, "slow"),
      aet: "SLOW",
      extraArgs: ["--sleep-during", "1"],
    });
    const agent = await startAgentProcess({
      config: {
        nodes: { slow: { aet: "SLOW", host: "127.0.0.1", port: slow.port } },
        routes: [{ name: "all", to: [{ node: "slow" }] }],
      },
    });
    try {
      assert.equal((await storescu(series.paths, agent)).code, 0);
      await eventually(
        "rows with the worker",
        async () => (await queueRows(agent)).filter((r) => r.state === "in_flight").length > 1 || undefined,
      );
      const erased = await agent.http("/erase", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ study: series.studyUid }),
      });
      assert.equal(erased.status, 200, await erased.clone().text());
      await erased.body?.cancel();
      await eventually(
        "the queue empty",
        async () => (await queueRows(agent)).length === 0 || undefined,
        30_000,
      );
      // The worker has met the erased objects by now (one at a time, a second each at most).
      await eventually(
        "an erased object met by the worker",
        async () =>
          (await Deno.readTextFile(agent.logFile)).includes('"object erased while queued: not sent"') ||
          undefined,
        20_000,
      );
      const failures = await agentMetric(
        agent,
        'conduit_agent_forward_failures_total{destination="slow",status="association"}',
      );
      assert.ok(!failures, `failures counted: ${failures}`);
      assert.ok(!(await Deno.readTextFile(agent.logFile)).includes("the archived object cannot be read"));
    } finally {
      await agent.stop();
      await slow.stop();
    }
  },
});
