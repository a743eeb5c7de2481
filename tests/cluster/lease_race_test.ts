/**
 * A site's agent moving to hub B while B's beat is reading the leases: the beat read hub A's lease (A died
 * and its lease had not run out, or B's claim had not committed yet), and must not take that for the site
 * having moved to A since, which closed B's new session ("the site connected to another hub", reason
 * Replaced) and made the agent connect once more. Seen by hand on a kill -9 of a hub behind HAProxy.
 * Deterministic: a row lock held by the test keeps B's claim waiting in PostgreSQL while B beats.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { eventually } from "../support/hub.ts";
import { postgresMissing, startPostgres } from "../support/postgres.ts";
import { openHubDb } from "../../hub/db/db.ts";
import { ClusterLeases } from "../../hub/cluster/leases.ts";

/** Beats only when the test calls beat(): the one at start, then none for an hour. */
const HAND = { beatMs: 3600_000 };

Deno.test({
  name: "ClusterLeases.beat() never hands back a site whose claim here is newer than the leases it read",
  ignore: Boolean(postgresMissing()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    const closers: (() => Promise<unknown>)[] = [];
    try {
      const url = await pg.createDatabase("lease_race");
      const db = await openHubDb("", url);
      closers.push(() => db.close());
      const a = new ClusterLeases(db, { clusterUrl: "http://127.0.0.1:1", version: "test" }, HAND);
      const b = new ClusterLeases(db, { clusterUrl: "http://127.0.0.1:2", version: "test" }, HAND);
      closers.push(() => a.stop(), () => b.stop());
      await a.start();
      await b.start();
      const lostOnB: string[] = [];
      b.onLost = (site, holder) => lostOnB.push(`${site}@${holder.hubId}`);
      await a.claim("north");
      await b.beat();
      assert.equal(b.heldElsewhere("north"), true, "B sees north on A");

      // North's agent connects to B; its claim waits on the row while B's beat reads A's lease.
      const sql = postgres(url, { max: 2, onnotice: () => {} });
      closers.push(() => sql.end());
      let claimed: Promise<void> | undefined;
      await sql.begin(async (tx) => {
        await tx`select site from site_leases where site = 'north' for update`;
        claimed = b.claim("north");
        await eventually("B's claim waits on the row", async () =>
          (await sql`select 1 from pg_stat_activity
            where wait_event_type = 'Lock' and query ilike '%site_leases%'`).length === 1);
        await b.beat();
      });
      await claimed;
      assert.deepEqual(lostOnB, [], "B's beat kept the session its claim was taking");
      assert.equal(b.heldElsewhere("north"), false, "B does not take north for A's");
      await b.beat();
      assert.deepEqual(lostOnB, [], "nor does the next beat");
      assert.equal(await b.holder("north", true), undefined);

      // A real move still hands the site back: north's agent connects to A again.
      await a.claim("north");
      await b.beat();
      assert.deepEqual(lostOnB, [`north@${a.hubId}`], "a site moved to A since is handed back");
    } finally {
      for (const close of closers.reverse()) await close().catch(() => {});
      await pg.stop();
    }
  },
});
