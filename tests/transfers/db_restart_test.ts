/**
 * A transfer running while the hub's PostgreSQL stops for a few seconds and then restarts (`pg_ctl restart
 * -m fast`): the hub's transfer loop fails its passes meanwhile (logged, once a second) and goes on from
 * the database's state once it is back; the job ends `success` with every object counted and delivered to
 * the PACS once, its tasks are the ones created (none added), and its `transfer.create` audit entry is
 * still there. A hub in this process on a real PostgreSQL, real agents and storescp.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { eventually } from "../support/hub.ts";
import { ignoreDatabaseResets, postgresMissing, startPostgres } from "../support/postgres.ts";
import { atPacs, finished, pacsHolding, rig, seed, skip as rigSkip, stopRig } from "./_rig.ts";

const skip = postgresMissing() ?? rigSkip;
if (skip) console.warn(`transfers/db_restart_test: skipped: ${skip}`);
// The hub runs in this process, and its PostgreSQL restarts: its driver's late socket errors as a hub's own.
ignoreDatabaseResets();

Deno.test({
  name: "a transfer under way goes on through a stop and a restart of the hub's PostgreSQL, each object once",
  ignore: Boolean(skip),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const pg = await startPostgres();
    const db = await pg.createDatabase("transfer");
    const sql = postgres(db, { max: 1, onnotice: () => {} });
    const r = await rig({ hubDb: db });
    try {
      const studies = [await seed(r, "dbr-a", 12), await seed(r, "dbr-b", 12)];
      const total = 24;
      // Slowed so that it is mid-way when the database goes.
      const { id } = await r.client.transfers.create.mutate({
        source: { site: "north" },
        destination: { site: "south", node: "pacs" },
        studies: studies.map((s) => s.studyUid),
        bandwidthMbps: 0.3,
      });
      await eventually("some objects at the PACS", async () => (await atPacs(r)).size >= 3);
      assert.ok((await atPacs(r)).size < total, "the transfer is mid-way when the database stops");

      await pg.pause();
      await eventually(
        "a transfer pass failed",
        () => r.hub.lines.some((l) => l.includes('"transfer pass failed"')),
        10_000,
      );
      await new Promise((res) => setTimeout(res, 3000));
      await pg.resume();
      await pg.restart();

      // Read through the hub again once it answers: the first calls after the restart may be 503, each of the
      // pool's connections failing once on its first use after the restart (documented), not only the first.
      await eventually("the hub answers", () => r.client.transfers.get.query({ id }).catch(() => undefined));
      const done = await eventually("the transfer finished", async () => {
        try {
          return await finished(r, id, 1_000);
        } catch (err) {
          if (/cannot reach its database|timed out waiting/.test((err as Error).message)) return undefined;
          throw err;
        }
      }, 120_000);
      assert.equal(done.status, "success", JSON.stringify(done));
      assert.equal(done.totals.objects, total);
      assert.equal(done.totals.done, total, "no progress lost");
      assert.equal(done.totals.failed, 0);
      const pacs = await pacsHolding(r, total);
      await new Promise((res) => setTimeout(res, 1000)); // time for a second copy to show, if one were coming
      assert.equal(pacs.size, total);
      for (const [uid, n] of await atPacs(r)) assert.equal(n, 1, `${uid} delivered once`);
      // One task per study, as created; the entry written before the outage.
      const [{ n }] = await sql`select count(*)::int as n from transfer_tasks where transfer_id = ${id}`;
      assert.equal(n, 2);
      const audit = await sql`select actor from audit where action = 'transfer.create' and target = ${id}`;
      assert.equal(audit.length, 1);
    } finally {
      await sql.end();
      await stopRig(r);
      await pg.stop();
    }
  },
});
