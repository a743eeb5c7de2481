/**
 * A site whose row the hub cannot mark online when its agent connects (the database refuses that write a
 * moment) is marked online once the database takes it again, its tunnel left up meanwhile. Until 2026-12-05
 * the failure was only logged, and the site looked offline in the console until the agent reconnected. A
 * real agent, the hub's real database (libsql, or PostgreSQL under test:pg) refusing through a trigger.
 */
import assert from "node:assert/strict";
import { sql } from "drizzle-orm";
import type { HubDb } from "../../hub/db/db.ts";
import { startAgentProcess } from "../support/agent.ts";
import { eventually, siteArgs, startTestHub } from "../support/hub.ts";

/** Makes the database refuse to mark any site online, until the returned function is called. */
async function refuseOnline(db: HubDb): Promise<() => Promise<void>> {
  if (db.pg) {
    await db.pg.unsafe(`
      CREATE FUNCTION refuse_online() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'no online'; END $$;
      CREATE TRIGGER refuse_online BEFORE UPDATE ON sites FOR EACH ROW WHEN (NEW.state = 'online')
        EXECUTE FUNCTION refuse_online();`);
    return async () => {
      await db.pg!.unsafe("DROP TRIGGER refuse_online ON sites; DROP FUNCTION refuse_online();");
    };
  }
  await db.run(sql`CREATE TRIGGER refuse_online BEFORE UPDATE ON sites WHEN NEW.state = 'online'
    BEGIN SELECT RAISE(ABORT, 'no online'); END`);
  return async () => {
    await db.run(sql`DROP TRIGGER refuse_online`);
  };
}

Deno.test({
  name: "Sessions: a site the registry could not mark online at connect is marked once it can, tunnel kept",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    const args = await siteArgs(hub, "north");
    const allow = await refuseOnline(hub.db);
    const agent = await startAgentProcess({ aet: "NORTH", args });
    try {
      await eventually(
        "the failed write logged",
        () =>
          hub.lines.some((l) => l.includes("registry update failed") && l.includes('"site":"north"')) ||
          undefined,
      );
      assert.ok(hub.sessions.get("north"), "the tunnel is up");
      assert.equal((await hub.registry.get("north"))?.state, "offline");

      await allow();
      // (On PostgreSQL the cluster's lease beat also marks a site online that a live hub holds: the retry's
      // line is what shows this hub wrote the row.)
      await eventually(
        "north online in the registry, marked at a retry",
        async () =>
          (await hub.registry.get("north"))?.state === "online" &&
          hub.lines.some((l) => l.includes("site marked online in the registry at a retry")),
      );
      assert.equal(hub.lines.filter((l) => l.includes('"msg":"site connected"')).length, 1, "no reconnect");

      // And the session's end still marks it offline.
      await agent.stop();
      await eventually(
        "north offline again",
        async () => (await hub.registry.get("north"))?.state === "offline" || undefined,
      );
    } finally {
      await agent.stop();
      await hub.stop();
    }
  },
});
