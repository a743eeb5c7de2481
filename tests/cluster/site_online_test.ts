/**
 * Across a cluster, a site that comes back gets what waited for it at once: north (on hub A) relays to
 * south, which is away; the relays are refused and back off for ten minutes. South connects to hub B: hub A,
 * which refused them, sees hub B hold south and tells north (`siteOnline`), and they go (until 2026-12-07 only
 * sites on the hub south connected to were told, and north's rows waited out their backoff).
 */
import assert from "node:assert/strict";
import { eventually, siteArgs } from "../support/hub.ts";
import { clusterTest, twoHubs } from "./_two_hubs.ts";
import { postgresMissing } from "../support/postgres.ts";
import { skipReason } from "../support/peers.ts";
import { queueRows, startAgentProcess } from "../support/agent.ts";
import { storescu } from "../support/send.ts";
import { writeGeneratedSeries } from "../tools/generate.ts";

const skip = postgresMissing() ?? skipReason("storescu");
const HUB = { reconnectBaseSeconds: 0.1, reconnectCapSeconds: 1 };
const ROUTES = [{ name: "mr-to-south", match: { modality: ["MR"] }, to: [{ site: "south" }] }];

clusterTest(
  "rows for a site that was away go when it connects to another hub of the cluster",
  skip,
  async (pg, stops) => {
    const { hubs: [a, b] } = await twoHubs(pg, "site_online", stops);
    const north = await startAgentProcess({
      aet: "NORTH",
      config: { queue: { backoffBaseSeconds: 600, backoffCapSeconds: 600 }, hub: HUB, routes: ROUTES },
      args: await siteArgs(a, "north"),
    });
    stops.push(() => north.stop());
    // South enrolled (known to the hubs) and away.
    const southArgs = await siteArgs(b, "south");
    await eventually("north on hub A", () => a.sessions.get("north"), 60_000);

    const dir = await Deno.makeTempDir({ prefix: "cluster-site-online-" });
    const series = await writeGeneratedSeries(dir, {
      count: 3,
      seed: "cluster-site-online",
      modality: "MR",
    });
    const sent = await storescu(series.paths, north, [], 60_000);
    assert.equal(sent.code, 0, sent.stderr);
    await eventually("north's relays refused: south not connected", async () => {
      const rows = (await queueRows(north)).filter((r) => r.destination === "@south");
      return rows.length === 3 &&
        rows.every((r) => r.state === "failed" && /not connected/.test(r.lastError));
    }, 30_000);

    const south = await startAgentProcess({ aet: "SOUTH", config: { hub: HUB }, args: southArgs });
    stops.push(() => south.stop());
    await eventually("south on hub B", () => b.sessions.get("south"), 60_000);
    // Within seconds (hub A's look at the leases, then north's send), where the backoff is ten minutes.
    await eventually("north's rows for south done", async () => {
      const rows = (await queueRows(north)).filter((r) => r.destination === "@south");
      return rows.length === 3 && rows.every((r) => r.state === "done");
    }, 30_000);
    assert.equal(a.sessions.sitesTold, 1, "hub A told north");
    assert.equal(b.sessions.sitesTold, 0, "hub B had nobody waiting");
    assert.match(
      await Deno.readTextFile(north.logFile),
      /a site connected to the hub: rows for it are due now/,
    );
  },
);
