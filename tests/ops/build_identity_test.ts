/**
 * Which build runs where (docs/operations.md): from this checkout, `--version` of agent and hub names the
 * release, the commit, its date and whether the tree was modified; an agent's build travels in its hello and
 * shows in the hub's site list (registry, `admin site list --json`, tRPC `sites.list`), its first log line
 * names it, and both /metrics export `conduit_build_info`. A real agent process and a real hub.
 */
import assert from "node:assert/strict";
import { buildInfoLabels, parseBuild } from "@conduit/shared/build";
import { BUILD as AGENT_BUILD, BUILD_TEXT as AGENT_BUILD_TEXT, VERSION } from "../../agent/version.ts";
import { BUILD as HUB_BUILD, BUILD_TEXT as HUB_BUILD_TEXT } from "../../hub/version.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { agentCli, type AgentProcess, startAgentProcess } from "../support/agent.ts";
import { eventually, hubAdmin, hubCli, siteRow, startTestHub } from "../support/hub.ts";
import { parsePrometheus } from "../support/prometheus.ts";

/** A build from a checkout: `0.1.0+140c00aa (2026-12-06)`, `, modified` when the tree has changes. */
const FROM_CHECKOUT = /^\d+\.\d+\.\d+\+[0-9a-f]{8} \(\d{4}-\d{2}-\d{2}(, modified)?\)$/;

Deno.test("agent and hub --version name the checkout's commit, its date and a modified tree; --json too", async () => {
  for (const [cli, build] of [[agentCli, AGENT_BUILD], [hubCli, HUB_BUILD]] as const) {
    const plain = await cli(["--version"]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout.trim(), FROM_CHECKOUT);
    const json = await cli(["--version", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.build, plain.stdout.trim());
    assert.deepEqual(parseBuild(parsed.build), { ...build });
    assert.deepEqual({ ...parsed, build: undefined }, { ...build, build: undefined });
    assert.equal(parsed.version, VERSION);
  }
});

Deno.test({
  name: "an agent's build reaches the hub's site list through its hello, and both /metrics name their build",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    let agent: AgentProcess | undefined;
    try {
      assert.match(AGENT_BUILD_TEXT, FROM_CHECKOUT);
      const added = await hubAdmin(hub.dataDir, ["site", "add", "north", "--json"]);
      assert.equal(added.code, 0, added.stderr);
      agent = await startAgentProcess({
        args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", String(added.json!.enrollmentToken)],
      });
      const row = await eventually("north online", async () => {
        const r = await siteRow(hub, "north");
        return r?.state === "online" ? r : undefined;
      });
      assert.equal(row.agentVersion, AGENT_BUILD_TEXT);

      const listed = await hubAdmin(hub.dataDir, ["site", "list", "--json"]);
      assert.equal(listed.code, 0, listed.stderr);
      const sites = listed.json!.sites as { site: string; agentVersion: string }[];
      assert.equal(sites.find((s) => s.site === "north")?.agentVersion, AGENT_BUILD_TEXT);
      const { token } = await hub.tokens.create("build", "viewer");
      const client = createConduitClient({ url: `http://127.0.0.1:${hub.port}`, token });
      const viaApi = (await client.sites.list.query()).find((s) => s.site === "north");
      assert.equal(viaApi?.agentVersion, AGENT_BUILD_TEXT);

      // The agent's first log line names its build, before anything that can fail at start.
      const first = JSON.parse(
        (await Deno.readTextFile(agent.logFile)).split("\n").find((l) => l.startsWith("{"))!,
      );
      assert.equal(first.msg, "agent starting");
      assert.equal(first.build, AGENT_BUILD_TEXT);
      const started = hub.lines.map((l) => JSON.parse(l)).find((l) => l.msg === "hub started");
      assert.equal(started?.build, HUB_BUILD_TEXT);

      const buildInfo = async (res: Response) => {
        assert.equal(res.status, 200);
        const family = parsePrometheus(await res.text()).get("conduit_build_info");
        assert.ok(family, "conduit_build_info is exported");
        assert.equal(family.type, "gauge");
        assert.equal(family.samples.length, 1);
        assert.equal(family.samples[0].value, 1);
        return family.samples[0].labels;
      };
      assert.deepEqual(await buildInfo(await agent.http("/metrics")), buildInfoLabels(AGENT_BUILD));
      const hubMetrics = await fetch(`http://127.0.0.1:${hub.port}/metrics`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.deepEqual(await buildInfo(hubMetrics), buildInfoLabels(HUB_BUILD));
    } finally {
      await agent?.stop();
      await hub.stop();
    }
  },
});
