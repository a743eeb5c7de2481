/**
 * A site that comes back gets what waited for it at once: north's relays found south not connected and wait,
 * each for a backoff of up to ten minutes; when south connects the hub tells north (`siteOnline`), and they go.
 * Only sites whose relays were refused are told (hub/tunnel/site_waiters.ts).
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { eventually } from "../support/hub.ts";
import { assertDelivered, sendSeries, startRelayRig } from "./_rig.ts";

const skip = skipReason("storescu", "storescp");
if (skip) console.warn(`site_online_test: skipped: ${skip}`);

Deno.test({
  name: "rows for a site that was not connected go once it connects, not at the end of their backoff",
  ignore: Boolean(skip),
  fn: async () => {
    const rig = await startRelayRig({
      northDirect: true,
      northQueue: { backoffBaseSeconds: 600, backoffCapSeconds: 600 },
    });
    try {
      await eventually(
        "both sites online",
        () => rig.hub.sessions.get("north") && rig.hub.sessions.get("south"),
      );
      await rig.stopSouth();
      await eventually("south offline at the hub", () => !rig.hub.sessions.get("south"));
      const sources = await sendSeries(rig, "site-online", 3);
      await eventually("north's relays failed: south not connected", async () => {
        const rows = await (await rig.north.http("/queue?state=failed&limit=100")).json() as {
          lastError: string;
          nextAttemptAt: number;
        }[];
        return rows.length === 3 && rows.every((r) => /not connected/.test(r.lastError)) ? rows : undefined;
      });
      await rig.startSouth();
      // Within seconds, where each row's own backoff would have been anything up to ten minutes.
      await assertDelivered(rig, sources, 20_000);
      const log = await Deno.readTextFile(rig.north.logFile);
      assert.match(log, /a site connected to the hub: rows for it are due now/);
      // Only the sites that waited are told (north, once): south connecting again, with nothing waiting for it,
      // and north reconnecting, which nobody waited for, ask nobody (until 2026-12-07 every connect asked every
      // other site connected).
      const told = rig.hub.sessions.sitesTold;
      assert.equal(told, 1);
      await rig.stopSouth();
      await eventually("south offline at the hub", () => !rig.hub.sessions.get("south"));
      await rig.startSouth();
      await eventually("south back", () => rig.hub.sessions.get("south"));
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(rig.hub.sessions.sitesTold, told);
    } finally {
      await rig.stop();
    }
  },
});
