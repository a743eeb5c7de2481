/**
 * The agent's /healthz tells the state of its link to the hub when one is configured: `hub` is `online`,
 * `connecting` or `offline` (or `not enrolled`), and `status` is `degraded` while it is not online (HTTP 200
 * still: the site goes on receiving and queues what is for the hub), with `hubError` saying why (the last
 * attempt's failure; until 2026-12-06 only the agent's log said). Until 2026-12-04 it said `"ok"` with
 * the hub gone and nothing about the link. The free-space floor's part is in tests/interop/duplicates_test.ts.
 * And it is 503 while the index cannot be written (group commits failing, every C-STORE refused with 0xA700),
 * where it said "database": "ok", 200.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { generateInstance, uidFromKey } from "@conduit/shared/testing";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { freePort, scratchDir, skipReason } from "../support/peers.ts";
import { canFreeze, chattr } from "../support/immutable.ts";
import { storescu } from "../support/send.ts";

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
    assert.equal(up.body.hubError, undefined, "no reason while online");
    await hub.stop();
    hubStopped = true;
    // Down, and why: the reason of the last attempt that failed (the hub's address refusing the connection).
    const down = await eventually("hub gone in /healthz, with why", async () => {
      const h = await health(agent);
      return h.body.hub !== "online" && h.body.hubError ? h : undefined;
    });
    assert.equal(down.code, 200, "the site still takes objects");
    assert.equal(down.body.status, "degraded");
    assert.match(down.body.hub, /^(connecting|offline)$/);
    assert.match(down.body.hubError, /refused|reach/i);
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

Deno.test({
  name: "/healthz is 503 while the index cannot be written (every C-STORE refused), 200 again once it can",
  ignore: Boolean(skipReason("storescu")),
  fn: async () => {
    const dir = await scratchDir("health-db-");
    if (!(await canFreeze(dir))) {
      console.warn("health_test: needs root and chattr on an ext4-like file system; skipped");
      return;
    }
    // The failing commit retried at least every second (not up to 10 s): the test waits for the retry.
    const agent = await startAgentProcess({
      dataDir: path.join(dir, "agent"),
      config: { dimse: { commitRetryCapSeconds: 1 } },
    });
    const db = ["agent.db", "agent.db-wal"].map((f) => path.join(agent.dataDir, f));
    try {
      const file = (n: number) => path.join(dir, `ct${n}.dcm`);
      for (const n of [1, 2, 3]) {
        await Deno.writeFile(
          file(n),
          generateInstance({
            modality: "CT",
            patientName: "HEALTH^DB",
            patientId: "HEALTH-1",
            studyInstanceUid: uidFromKey("health/study"),
            seriesInstanceUid: uidFromKey("health/series"),
            sopInstanceUid: uidFromKey(`health/sop/${n}`),
            instanceNumber: n,
            rows: 16,
            columns: 16,
          }),
        );
      }
      assert.equal((await storescu([file(1)], agent)).code, 0);
      // The index's files cannot be written any more (as a full or failing disk would have it).
      await chattr("+i", db);
      await storescu([file(2)], agent); // answered Success; its commit fails, and keeps failing
      const bad = await eventually("/healthz unhealthy", async () => {
        const h = await health(agent);
        return h.code === 503 ? h : undefined;
      }, 15_000);
      assert.equal(bad.body.database, "error");
      assert.equal(bad.body.status, "degraded");
      assert.notEqual((await storescu([file(3)], agent)).code, 0, "C-STOREs are refused meanwhile");
      await chattr("-i", db);
      await eventually("/healthz healthy again", async () => (await health(agent)).code === 200, 15_000);
      assert.equal((await storescu([file(3)], agent)).code, 0);
    } finally {
      await chattr("-i", db).catch(() => {});
      await agent.stop();
    }
  },
});
