/**
 * Half-open links found from both ends within heartbeat + timeout, with the hub's settings on both: the
 * hub names its `tunnel.heartbeatTimeoutSeconds` in the welcome and the agent uses it. Until 2026-12-05
 * the agent kept its own fixed 10 s whatever the hub's was, so with a hub set to 1 s + 2 s the agent found a
 * hub that stopped answering only after 11 s, while the hub would have dropped it after 3 s. A stopped
 * process (SIGSTOP: its sockets stay open, nothing answers) stands for a machine that froze or a link
 * whose replies are lost; the frozen-proxy test of production settings is in limits_test.ts.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { type AgentProcess, startAgentProcess } from "../support/agent.ts";
import {
  eventually,
  hubAdmin,
  type HubProcess,
  siteArgs,
  startHubProcess,
  startTestHub,
} from "../support/hub.ts";
import { scratchDir } from "../support/processes.ts";

const HEARTBEAT = 1;
const TIMEOUT = 2;

async function hubState(agent: AgentProcess): Promise<string | undefined> {
  const r = await agent.http("/healthz");
  return (await r.json()).hub;
}

/** Sends `signal` to a process, ignoring one that has ended meanwhile. */
function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch { /* ended */ }
}

Deno.test({
  name: "heartbeat: the agent gives up a hub that stops answering within the hub's heartbeat + timeout",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const dir = await scratchDir("heartbeat-hub-");
    const config = path.join(dir, "hub.yaml");
    await Deno.writeTextFile(
      config,
      `tunnel:\n  heartbeatSeconds: ${HEARTBEAT}\n  heartbeatTimeoutSeconds: ${TIMEOUT}\n`,
    );
    const hub: HubProcess = await startHubProcess({
      dataDir: path.join(dir, "hub"),
      args: ["--config", config],
    });
    let agent: AgentProcess | undefined;
    let stopped = false;
    try {
      const token = String(
        (await hubAdmin(hub.dataDir, ["site", "add", "north", "--json"])).json!.enrollmentToken,
      );
      agent = await startAgentProcess({
        config: { hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 } },
        args: ["--site", "north", "--hub", hub.tunnelUrl, "--enroll", token],
      });
      const a = agent;
      await eventually("north online", async () => (await hubState(a)) === "online");
      signal(hub.pid, "SIGSTOP");
      stopped = true;
      const t0 = Date.now();
      await eventually("the agent gives the hub up", async () => (await hubState(a)) !== "online", 30_000);
      const seconds = (Date.now() - t0) / 1000;
      const log = await Deno.readTextFile(a.logFile);
      // The timeout the agent used is the hub's (2 s), not its own 10 s.
      const missed = log.split("\n").find((l) => l.includes("the hub missed a heartbeat"));
      assert.ok(missed, "the agent logs the missed heartbeat");
      assert.equal(JSON.parse(missed.slice(missed.indexOf("{"))).timeoutMs, TIMEOUT * 1000);
      // Within 1 s + 2 s; with its own 10 s it took 10-11 s. The bound leaves a busy machine room.
      assert.ok(seconds < 9, `the agent found the stopped hub after ${seconds} s`);
      signal(hub.pid, "SIGCONT");
      stopped = false;
      await eventually("north online again", async () => (await hubState(a)) === "online", 30_000);
    } finally {
      if (stopped) signal(hub.pid, "SIGCONT");
      await agent?.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name: "heartbeat: the hub gives up an agent that stops answering within heartbeat + timeout",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ heartbeatSeconds: HEARTBEAT, heartbeatTimeoutSeconds: TIMEOUT });
    let agent: AgentProcess | undefined;
    let stopped = false;
    try {
      agent = await startAgentProcess({
        config: { hub: { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 } },
        args: await siteArgs(hub, "north"),
      });
      const first = await eventually("north online", () => hub.sessions.get("north")?.session);
      signal(agent.pid, "SIGSTOP");
      stopped = true;
      const t0 = Date.now();
      await eventually("the hub gives the agent up", () => first.isClosed, 30_000);
      const seconds = (Date.now() - t0) / 1000;
      // Within 1 s + 2 s (and up to a second more: the hub checks late heartbeats once a second).
      assert.ok(seconds < 9, `the hub found the stopped agent after ${seconds} s`);
      assert.ok(hub.lines.some((l) => l.includes("site missed its heartbeat")));
      signal(agent.pid, "SIGCONT");
      stopped = false;
      await eventually("north back on a new session", () => {
        const now = hub.sessions.get("north")?.session;
        return now && now !== first ? now : undefined;
      }, 30_000);
    } finally {
      if (agent && stopped) signal(agent.pid, "SIGCONT");
      await agent?.stop();
      await hub.stop();
    }
  },
});

Deno.test({
  name: "heartbeat: a site's round trip is known at the sync after it connects, not two heartbeats later",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Heartbeats 60 s apart: before 2026-12-05 the first round trip came with the second one after the
    // connect (the first was sent by the first, read by the second), so this site showed none for 60-120 s.
    const hub = await startTestHub({ heartbeatSeconds: 60, heartbeatTimeoutSeconds: 60 });
    const agent = await startAgentProcess({ args: await siteArgs(hub, "north") });
    try {
      const row = await eventually("north's round trip in the registry", async () => {
        const r = await hub.registry.get("north");
        return r?.state === "online" && r.rttMs !== null ? r : undefined;
      });
      assert.ok(row.rttMs! >= 0 && row.rttMs! < 10_000, String(row.rttMs));
      assert.notEqual(hub.sessions.get("north")?.rttMs, undefined, "the gauge of /metrics has it too");
    } finally {
      await agent.stop();
      await hub.stop();
    }
  },
});
