/**
 * The hub's metrics in a cluster: two hubs in this process on a real PostgreSQL started by the test each
 * report the other as a live peer (`conduit_hub_cluster_peers`), and once one stops the other reports none
 * within a lease; both read the same transfer tasks from the shared database. A request for a site the
 * other hub holds (a real agent) is counted as asked on the one and served on the other
 * (`conduit_hub_cluster_requests_total`), and one that could not be carried with its reason.
 */
import assert from "node:assert/strict";
import { eventually, siteArgs, startTestHub, type TestHub } from "../support/hub.ts";
import { startAgentProcess } from "../support/agent.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { SiteElsewhereError } from "../../hub/cluster/peer_wire.ts";
import { postgresTest } from "../support/postgres.ts";
import { freePort } from "../support/peers.ts";
import { parsePrometheus, value } from "../support/prometheus.ts";

postgresTest(
  "each hub of a cluster counts its live peers, and drops one that stopped within a lease",
  async (db) => {
    const hubs: { hub: TestHub; metricsPort: number; stopped: boolean }[] = [];
    for (let i = 0; i < 2; i++) {
      const port = freePort(), metricsPort = freePort();
      const hub = await startTestHub({ db, port, metricsPort, clusterUrl: `http://127.0.0.1:${port}` });
      hubs.push({ hub, metricsPort, stopped: false });
    }
    try {
      const scrape = async (i: number) =>
        parsePrometheus(await (await fetch(`http://127.0.0.1:${hubs[i].metricsPort}/metrics`)).text());
      for (const i of [0, 1]) {
        const m = await eventually(`hub ${i} sees its peer`, async () => {
          const m = await scrape(i);
          return value(m, "conduit_hub_cluster_peers") === 1 ? m : undefined;
        });
        // The shared database's tasks, none yet: every state reported, at 0.
        const tasks = m.get("conduit_hub_transfer_tasks")!.samples;
        assert.ok(tasks.length >= 8 && tasks.every((s) => s.value === 0));
      }
      await hubs[1].hub.stop();
      hubs[1].stopped = true;
      await eventually(
        "hub 0 sees no peer",
        async () => value(await scrape(0), "conduit_hub_cluster_peers") === 0,
      );
    } finally {
      for (const h of hubs) if (!h.stopped) await h.hub.stop();
    }
  },
);

postgresTest(
  "requests carried between hubs are counted on both: asked and served, and why one could not be",
  async (db) => {
    const [portA, portB, metricsA, metricsB] = [freePort(), freePort(), freePort(), freePort()];
    const a = await startTestHub({
      db,
      port: portA,
      metricsPort: metricsA,
      clusterUrl: `http://127.0.0.1:${portA}`,
    });
    const b = await startTestHub({
      db,
      port: portB,
      metricsPort: metricsB,
      clusterUrl: `http://127.0.0.1:${portB}`,
    });
    const agent = await startAgentProcess({ aet: "SOUTH", args: await siteArgs(b, "south") });
    try {
      const scrape = async (port: number) =>
        parsePrometheus(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      const carried = (m: ReturnType<typeof parsePrometheus>, direction: string, outcome: string) =>
        value(m, "conduit_hub_cluster_requests_total", { direction, outcome }) ?? 0;
      await eventually(
        "south on hub B, seen from hub A",
        () => b.sessions.get("south") && a.sessions.online("south"),
      );
      const [beforeA, beforeB] = [await scrape(metricsA), await scrape(metricsB)];
      // South's conflicts asked through hub A: carried to hub B, which holds the site.
      const client = createConduitClient({
        url: `http://127.0.0.1:${portA}`,
        token: (await a.tokens.create("ops", "operator")).token,
      });
      assert.equal((await client.site.conflicts.query({ site: "south" })).total, 0);
      const [afterA, afterB] = [await scrape(metricsA), await scrape(metricsB)];
      assert.ok(carried(afterA, "out", "ok") > carried(beforeA, "out", "ok"), "hub A asked hub B");
      assert.ok(carried(afterB, "in", "ok") > carried(beforeB, "in", "ok"), "hub B served hub A");
      assert.equal(carried(afterA, "in", "ok"), 0, "hub A served nothing");
      assert.equal(carried(afterB, "out", "ok"), 0, "hub B asked nothing");
      // A site no hub holds: refused before any link, counted with its reason.
      const elsewhere = (a.sessions as unknown as { elsewhere: { open(site: string): Promise<unknown> } })
        .elsewhere;
      await assert.rejects(elsewhere.open("nowhere"), (e: unknown) => {
        assert.ok(e instanceof SiteElsewhereError && e.reason === "unheld", String(e));
        return true;
      });
      assert.equal(carried(await scrape(metricsA), "out", "unheld"), carried(afterA, "out", "unheld") + 1);
    } finally {
      await agent.stop();
      await a.stop();
      await b.stop();
    }
  },
);
