/**
 * The agent's /healthz tells the state of its link to the hub when one is configured: `hub` is `online`,
 * `connecting` or `offline` (or `not enrolled`), and `status` is `degraded` while it is not online (HTTP 200
 * still: the site goes on receiving and queues what is for the hub). Until 2026-12-04 it said `"ok"` with
 * the hub gone and nothing about the link. The free-space floor's part is in tests/interop/duplicates_test.ts.
 */
import assert from "node:assert/strict";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { freePort } from "../support/processes.ts";

async function health(agent: { http(p: string): Promise<Response> }) {
  const r = await agent.http("/healthz");
  return { code: r.status, body: await r.json() };
}

Deno.test("/healthz says whether the agent is linked to its hub", async () => {
  const hub = await startTestHub();
  let hubStopped = false;
  const agent = await startAgentProcess({ args: await siteArgs(hub, "north") });
  try {
    const up = await eventually("hub online in /healthz", async () => {
      const h = await health(agent);
      return h.body.hub === "online" ? h : undefined;
    });
    assert.equal(up.code, 200);
    assert.equal(up.body.status, "ok");
    assert.equal(up.body.disk, "ok");
    await hub.stop();
    hubStopped = true;
    const down = await eventually("hub gone in /healthz", async () => {
      const h = await health(agent);
      return h.body.hub !== "online" ? h : undefined;
    });
    assert.equal(down.code, 200, "the site still takes objects");
    assert.equal(down.body.status, "degraded");
    assert.match(down.body.hub, /^(connecting|offline)$/);
  } finally {
    await agent.stop();
    if (!hubStopped) await hub.stop();
  }
});

Deno.test("/healthz of an agent configured with a hub but not enrolled says so", async () => {
  const agent = await startAgentProcess({ args: ["--hub", `ws://127.0.0.1:${freePort()}/tunnel`] });
  try {
    const h = await health(agent);
    assert.equal(h.code, 200);
    assert.equal(h.body.status, "degraded");
    assert.equal(h.body.hub, "not enrolled");
  } finally {
    await agent.stop();
  }
});

Deno.test("/healthz of a standalone agent has no hub and is ok", async () => {
  const agent = await startAgentProcess();
  try {
    const h = await health(agent);
    assert.equal(h.code, 200);
    assert.equal(h.body.status, "ok");
    assert.equal(h.body.hub, undefined);
    assert.equal(h.body.database, "ok");
    assert.equal(h.body.disk, "ok");
  } finally {
    await agent.stop();
  }
});
