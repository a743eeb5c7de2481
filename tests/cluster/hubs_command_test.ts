/**
 * `hub admin hubs` lists the hubs sharing a database with their versions, last beats and sites, and says
 * when the live ones run different versions (a rolling upgrade under way, or a hub left behind).
 */
import assert from "node:assert/strict";
import { openHubDb } from "../../hub/db/db.ts";
import { inArray } from "drizzle-orm";
import { hubs, siteLeases } from "../../hub/db/schema.ts";
import { hubAdmin } from "../support/hub.ts";

Deno.test("hub admin hubs: versions, live or gone, sites held; mixed versions named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hubs-command-" });
  // No database there yet: said, none made (tests/cli/first_run_test.ts).
  const none = await hubAdmin(dir, ["hubs"]);
  assert.equal(none.code, 2, none.stderr);
  assert.match(none.stderr, /^hub admin: no hub database at /);
  const db = await openHubDb(dir, "file:" + `${dir}/hub.db`);
  const empty = await hubAdmin(dir, ["hubs"]);
  assert.equal(empty.code, 0, empty.stderr);
  assert.match(empty.stdout, /^no hubs registered/);

  const now = Date.now();
  await db.insert(hubs).values([
    {
      id: "hub-a",
      clusterUrl: "http://10.0.0.1:8080",
      version: "0.1.0",
      startedAt: now - 60_000,
      heartbeatAt: now,
    },
    {
      id: "hub-b",
      clusterUrl: "http://10.0.0.2:8080",
      version: "0.2.0",
      startedAt: now - 30_000,
      heartbeatAt: now,
    },
    {
      id: "hub-c",
      clusterUrl: "http://10.0.0.3:8080",
      version: "0.0.9",
      startedAt: now - 90_000,
      heartbeatAt: now - 600_000,
    },
  ]);
  await db.insert(siteLeases).values([
    { site: "north", hubId: "hub-a", expiresAt: now + 60_000 },
    { site: "south", hubId: "hub-a", expiresAt: now + 60_000 },
    { site: "east", hubId: "hub-b", expiresAt: now - 1 },
  ]);
  // hub-a and hub-b beat while the commands run, as live hubs do (once a second): a command whose start
  // takes seconds on a loaded machine would otherwise find their one beat too old and call them gone.
  const beat = () =>
    db.update(hubs).set({ heartbeatAt: Date.now() }).where(inArray(hubs.id, ["hub-a", "hub-b"]));
  const beating = setInterval(() => void beat().catch(() => {}), 500);
  try {
    const json = await hubAdmin(dir, ["hubs", "--json"]);
    assert.equal(json.code, 0, json.stderr);
    const out = json.json as {
      hubs: { id: string; version: string; live: boolean; sites: number }[];
      versions: string[];
      mixedVersions: boolean;
    };
    assert.deepEqual(
      out.hubs.map((h) => [h.id, h.version, h.live, h.sites]),
      [["hub-c", "0.0.9", false, 0], ["hub-a", "0.1.0", true, 2], ["hub-b", "0.2.0", true, 0]],
    );
    assert.deepEqual(out.versions, ["0.1.0", "0.2.0"], "the gone hub's version is not counted");
    assert.equal(out.mixedVersions, true);

    const text = await hubAdmin(dir, ["hubs"]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ID\tURL\tVERSION\tSTARTED\tLAST BEAT\tSITES\tSTATE\n/);
    assert.match(text.stdout, /hub-c\thttp:\/\/10\.0\.0\.3:8080\t0\.0\.9\t.*\tgone\n/);
    assert.match(text.stdout, /the live hubs run different versions: 0\.1\.0 \(1 hub\), 0\.2\.0 \(1 hub\)/);
  } finally {
    clearInterval(beating);
    await db.close();
  }
});
