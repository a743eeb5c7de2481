/**
 * Two hubs on one PostgreSQL while it stops for 11 s (longer than a site lease, 6 s, and a transfer's
 * driver lease, 10 s) and then restarts (`pg_ctl restart -m fast`): north on hub A, south on hub B, a
 * transfer north to south's PACS created on (and driven by) hub B, mid-way. Sampled every 200 ms from the
 * stop to the end: no site has a session on both hubs, and once the database is back each site's lease is
 * with the hub holding its session; the transfer ends `success`, each object at the PACS once, settled by
 * one hub (one "transfer finished" between the two). Hubs in this process, real agents, storescp.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { eventually, siteArgs } from "../support/hub.ts";
import { ignoreDatabaseResets, postgresMissing, startPostgres } from "../support/postgres.ts";
import { skipReason } from "../support/peers.ts";
import { type AgentProcess, filesBySopInstance, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { clusterPacs, twoHubs } from "./_two_hubs.ts";

const skip = postgresMissing() ?? skipReason("storescu", "storescp");
if (skip) console.warn(`cluster/db_restart_test: skipped: ${skip}`);
// The hubs run in this process, and their PostgreSQL restarts: its driver's late socket errors as a hub's own.
ignoreDatabaseResets();
const QUEUE = { backoffBaseSeconds: 0.2, backoffCapSeconds: 1, maxAttempts: 1000 };
const HUB = { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 };
const TOTAL = 24;

Deno.test({
  name:
    "two hubs through a stop and a restart of their PostgreSQL: one holder per site, the transfer driven once",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    const stops: (() => Promise<void>)[] = [];
    try {
      // The PACS starts while the two hubs start; then north and south start together. What started is
      // stopped by `stops`, whichever failed.
      const [hubsStart, pacsStart] = await Promise.allSettled([
        twoHubs(pg, "db_restart", stops),
        clusterPacs(stops),
      ]);
      if (hubsStart.status === "rejected") throw hubsStart.reason;
      if (pacsStart.status === "rejected") throw pacsStart.reason;
      const { db, hubs: [a, b] } = hubsStart.value;
      const pacs = pacsStart.value;
      const [northArgs, southArgs] = [await siteArgs(a, "north"), await siteArgs(b, "south")];
      const started = await Promise.allSettled([
        startAgentProcess({ aet: "NORTH", config: { queue: QUEUE, hub: HUB }, args: northArgs }),
        startAgentProcess({
          aet: "SOUTH",
          config: {
            queue: QUEUE,
            hub: HUB,
            nodes: { pacs: { aet: "PACS", host: "127.0.0.1", port: pacs.port } },
          },
          args: southArgs,
        }),
      ]);
      for (const s of started) if (s.status === "fulfilled") stops.push(() => s.value.stop());
      for (const s of started) if (s.status === "rejected") throw s.reason;
      const [north] = started.map((s) => (s as PromiseFulfilledResult<AgentProcess>).value);
      await eventually("north on A, south on B", () => a.sessions.get("north") && b.sessions.get("south"));
      const sql = postgres(db, { max: 1, onnotice: () => {} });
      stops.push(() => sql.end());
      const leases = async () =>
        Object.fromEntries((await sql`select site, hub_id from site_leases`).map((r) => [r.site, r.hub_id]));
      await eventually("each hub knows the other's site", () => a.cluster!.leases.heldElsewhere("south"));

      // The two studies are written and sent side by side (a storescu each); their order is kept.
      const studies = await Promise.all(["cdb-a", "cdb-b"].map(async (seed) => {
        const dir = await Deno.makeTempDir({ prefix: "cluster-src-" });
        const series = await writeGeneratedSeries(dir, { count: TOTAL / 2, rows: 64, columns: 64, seed });
        assert.equal((await storescu(series.paths, north, [], 60_000)).code, 0);
        return series.studyUid;
      }));
      const client = createConduitClient({
        url: `http://127.0.0.1:${b.port}`,
        token: (await b.tokens.create("ops", "operator")).token,
      });
      const { id } = await client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies,
        bandwidthMbps: 0.3,
      });
      await eventually(
        "some objects at the PACS",
        async () => (await filesBySopInstance(pacs.dir)).size >= 3,
      );
      assert.ok((await filesBySopInstance(pacs.dir)).size < TOTAL, "the transfer is mid-way at the stop");

      // From the stop to the end: no site with a session on both hubs.
      const twice: string[] = [];
      const sampler = setInterval(() => {
        for (const site of ["north", "south"]) {
          if (a.sessions.get(site) && b.sessions.get(site)) {
            twice.push(`${site} at ${new Date().toISOString()}`);
          }
        }
      }, 200);
      stops.push(() => Promise.resolve(clearInterval(sampler)));

      await pg.pause();
      await new Promise((r) => setTimeout(r, 11_000));
      await pg.resume();
      await pg.restart();

      await eventually("each site's lease with the hub holding its session", async () => {
        const held = await leases().catch(() => undefined);
        return held?.north === a.cluster!.hubId && held?.south === b.cluster!.hubId &&
          Boolean(a.sessions.get("north")) && Boolean(b.sessions.get("south"));
      }, 20_000);
      const done = await eventually("the transfer finished", async () => {
        const t = await client.transfers.get.query({ id }).catch(() => undefined);
        return t && ["success", "warning", "failure", "canceled"].includes(t.status) ? t : undefined;
      }, 60_000);
      assert.equal(done.status, "success", JSON.stringify(done));
      assert.equal(done.totals.done, TOTAL);
      await eventually(
        "every object at the PACS",
        async () => (await filesBySopInstance(pacs.dir)).size === TOTAL,
      );
      await new Promise((r) => setTimeout(r, 1000)); // time for a second copy to show, if one were coming
      for (const [uid, files] of await filesBySopInstance(pacs.dir)) {
        assert.equal(files.length, 1, `${uid} delivered once`);
      }
      clearInterval(sampler);
      assert.deepEqual(twice, [], "no site held by both hubs");
      const settled = [...a.lines, ...b.lines].filter((l) =>
        l.includes('"transfer finished"') && l.includes(id)
      );
      assert.equal(settled.length, 1, settled.join("\n"));
      const [{ n }] = await sql`select count(*)::int as n from transfer_tasks where transfer_id = ${id}`;
      assert.equal(n, 2, "no task added");
    } finally {
      // Everything stops side by side, then the database: after the database's restart each hub's stop waits
      // about 5 s for its database pool to end (its close's timeout), one hub after the other before.
      await Promise.all(stops.map((stop) => stop().catch(() => {})));
      await pg.stop();
    }
  },
});
