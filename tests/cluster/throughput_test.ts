/**
 * Two hubs on one PostgreSQL (in this process), a real agent on each: a site's tunnel traffic (`throughput`
 * of `sites.list`, the console's sparkline) is the same through either hub, the hub holding its tunnel
 * writing the samples to the database with the other live facts. Until 2026-12-05 only the holding hub had
 * them: through the other one the list was empty, and behind a load balancer the sparkline came and went.
 * Once the agent is gone, neither hub shows samples of it.
 */
import assert from "node:assert/strict";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";
import { postgresTest } from "../support/postgres.ts";
import { freePort } from "../support/peers.ts";
import { startAgentProcess } from "../support/agent.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

postgresTest(
  "sites.list gives a site's throughput samples alike through every hub of a cluster",
  async (db) => {
    const [portA, portB] = [freePort(), freePort()];
    const a = await startTestHub({ db, port: portA, clusterUrl: `http://127.0.0.1:${portA}` });
    const b = await startTestHub({ db, port: portB, clusterUrl: `http://127.0.0.1:${portB}` });
    const north = await startAgentProcess({ aet: "NORTH", args: await siteArgs(a, "north") });
    const south = await startAgentProcess({ aet: "SOUTH", args: await siteArgs(b, "south") });
    try {
      const token = (await a.tokens.create("ops", "viewer")).token;
      const clients = [portA, portB].map((port) =>
        createConduitClient({ url: `http://127.0.0.1:${port}`, token })
      );
      const samples = async (i: number) =>
        Object.fromEntries(
          (await clients[i].sites.list.query()).map((s) => [s.site, s.throughput]),
        ) as Record<string, number[]>;
      await eventually(
        "north on hub A and south on hub B",
        () => a.sessions.get("north") && b.sessions.get("south"),
      );
      // The two hubs' answers alike (a write between the two reads differs: read again), with several samples
      // for each site, traffic among them (heartbeats and status requests cross every tunnel).
      const alike = await eventually("the same samples through both hubs", async () => {
        const [viaA, viaB] = [await samples(0), await samples(1)];
        const full = (s: number[] | undefined) => s !== undefined && s.length >= 3 && s.some((n) => n > 0);
        if (!full(viaA.north) || !full(viaA.south)) return undefined;
        return JSON.stringify(viaA) === JSON.stringify(viaB) ? viaA : undefined;
      }, 30_000);
      for (const site of ["north", "south"]) {
        assert.ok(alike[site].every((n) => Number.isInteger(n) && n >= 0), `${site}: ${alike[site]}`);
      }
      // An agent gone: its samples are not shown through either hub (its row is offline, its samples cleared).
      await north.stop();
      await eventually(
        "north without samples through both hubs",
        async () => (await samples(0)).north.length === 0 && (await samples(1)).north.length === 0,
      );
      assert.ok((await samples(0)).south.length > 0, "south's are still there");
    } finally {
      await north.stop();
      await south.stop();
      await b.stop();
      await a.stop();
    }
  },
);
