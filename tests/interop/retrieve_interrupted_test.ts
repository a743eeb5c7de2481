/**
 * A retrieve from a node broken off mid-way (the node's association cut after a few objects): what arrived
 * stays archived, and the agent says how much that is and what is missing, on its HTTP API (what `agent node
 * retrieve` prints) and in its log (until 2026-12-08 only "association closed before the final response",
 * and no log line at all).
 */
import assert from "node:assert/strict";
import { skipReason, startOrthanc } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { startProxy } from "../support/tcp_proxy.ts";
import { eventually } from "../support/hub.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = skipReason("/usr/sbin/Orthanc");

Deno.test({
  name:
    "a C-GET cut after a few objects: what arrived is archived, the report and the log say what is missing",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pacs = await startOrthanc({
      aet: "PACS",
      storageDir: await Deno.makeTempDir({ prefix: "orthanc-cut-" }),
    });
    const proxy = startProxy(pacs.port);
    const agent = await startAgentProcess({
      aet: "CUTAGENT",
      config: { nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: proxy.port, retrieve: "get" } } },
    });
    try {
      const dir = await Deno.makeTempDir({ prefix: "retrieve-cut-" });
      const series = await writeGeneratedSeries(dir, { count: 12, seed: "retrieve-cut" });
      for (const file of series.paths) {
        const res = await pacs.rest("/instances", { method: "POST", body: await Deno.readFile(file) });
        assert.equal(res.status, 200, await res.text());
      }
      // The C-FIND's association moves a few kB; the C-GET's stalls after about four objects (0.5 MB each),
      // and is then cut.
      proxy.stallAfter("toClient", 2_200_000);
      const answer = agent.http("/nodes/pacs/retrieve", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ level: "STUDY", studyInstanceUid: series.studyUid }),
      });
      await eventually("the C-GET stalled", () => proxy.stalled === 1, 30_000);
      proxy.cutAll();
      const res = await answer;
      const body = await res.json();
      assert.equal(res.status, 502, JSON.stringify(body));
      assert.equal(body.ok, false);
      assert.equal(body.expected, 12);
      assert.ok(body.arrived >= 1 && body.arrived < 12, JSON.stringify(body));
      assert.equal(body.missing.length, 12 - body.arrived);
      assert.match(
        body.error,
        new RegExp(`\\(${body.arrived} of the 12 objects the node listed are archived, `),
      );
      const log = await Deno.readTextFile(agent.logFile);
      const line = log.split("\n").find((l) => l.includes('"retrieve interrupted"'));
      assert.ok(line, "the log says the retrieve was interrupted");
      assert.equal(JSON.parse(line).arrived, body.arrived);
      assert.equal(JSON.parse(line).level, "warn");
    } finally {
      await agent.stop();
      proxy.close();
      await pacs.stop();
    }
  },
});
