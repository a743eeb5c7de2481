/**
 * A site between hubs: its lease names a hub that cannot be reached (its process gone, the lease not run
 * out yet), or a hub without a cluster URL. Another hub answers 503 with the reason, for DICOMweb and
 * for tRPC, and the site's lease runs out within seconds; a stranger without the cluster secret is
 * refused at `/cluster`. Two hubs in this process on a real PostgreSQL started by the test.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { eventually, startTestHub } from "../support/hub.ts";
import { postgresTest } from "../support/postgres.ts";
import { freePort } from "../support/peers.ts";

postgresTest(
  "a site whose hub cannot be reached is 503 with the reason on another hub, until its lease runs out",
  async (db) => {
    const port = freePort();
    const hub = await startTestHub({ db, port, clusterUrl: `http://127.0.0.1:${port}` });
    const sql = postgres(db, { max: 1, onnotice: () => {} });
    try {
      const { enrollmentToken } = await hub.registry.add("ghost");
      await hub.registry.enroll(enrollmentToken);
      const { token } = await hub.tokens.create("ops", "operator");
      const now = Date.now();
      // Hub "gone" died a moment ago (nothing listens at its URL); hub "quiet" never said where it is.
      const deadPort = freePort();
      await sql`insert into hubs (id, cluster_url, version, started_at, heartbeat_at)
      values ('hub-gone', ${`http://127.0.0.1:${deadPort}`}, 'x', ${now}, ${now}),
             ('hub-quiet', null, 'x', ${now}, ${now})`;
      await sql`insert into site_leases (site, hub_id, expires_at) values ('ghost', 'hub-gone', ${
        now + 4000
      })`;
      const qido = async () => {
        const r = await fetch(`http://127.0.0.1:${hub.port}/dicomweb/sites/ghost/studies`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: r.status, text: await r.text() };
      };
      const first = await eventually("a 503 naming the unreachable hub", async () => {
        const r = await qido();
        return r.status === 503 && /cannot be reached/.test(r.text) ? r : undefined;
      }, 5000);
      assert.match(first.text, /site ghost is on a hub that cannot be reached/);
      // Said in the log once for that hub and reason, however many requests failed on it.
      assert.ok((await qido()).status === 503);
      const failed = hub.lines.filter((l) => /"msg":"hub link failed"/.test(l));
      assert.equal(failed.length, 1, hub.lines.join("\n"));
      assert.match(failed[0], /"level":"warn".*"hub":"hub-gone"/);
      const echo = await fetch(`http://127.0.0.1:${hub.port}/trpc/sites.echo`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ site: "ghost", node: "pacs" }),
      });
      // (echo answers 200 with ok: false and the reason)
      assert.match(await echo.text(), /"ok":false.*site ghost is on a hub that cannot be reached/);

      await sql`update site_leases set hub_id = 'hub-quiet', expires_at = ${
        Date.now() + 4000
      } where site = 'ghost'`;
      await eventually("a 503 naming the missing cluster URL", async () => {
        const r = await qido();
        return r.status === 503 && /no cluster URL/.test(r.text) || undefined;
      }, 5000);
      // The lease runs out: the site is simply offline again.
      await eventually("the lease ran out", async () => {
        const r = await qido();
        return r.status === 503 && /offline/.test(r.text) || undefined;
      }, 10_000);

      const stranger = await fetch(`http://127.0.0.1:${hub.port}/cluster`, {
        headers: { authorization: "Bearer not-the-secret", upgrade: "websocket" },
      });
      assert.equal(stranger.status, 401);
      await stranger.body?.cancel();
    } finally {
      await sql.end();
      await hub.stop();
    }
  },
);
