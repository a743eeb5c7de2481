/**
 * The hub's metrics in a cluster: two hubs in this process on a real PostgreSQL started by the test each
 * report the other as a live peer (`conduit_hub_cluster_peers`), and once one stops the other reports none
 * within a lease; both read the same transfer tasks from the shared database.
 */
import assert from "node:assert/strict";
import { eventually, startTestHub, type TestHub } from "../support/hub.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { freePort } from "../support/peers.ts";
import { parsePrometheus, value } from "../support/prometheus.ts";

Deno.test({
  name: "each hub of a cluster counts its live peers, and drops one that stopped within a lease",
  ignore: Boolean(postgresMissing()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    try {
      const db = await pg.createDatabase("metrics");
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
    } finally {
      await pg.stop();
    }
  },
});
