import assert from "node:assert/strict";
import { openHubDb } from "../db/db.ts";
import { ClusterLeases } from "./leases.ts";
import { withWallClockStepped } from "../../tests/support/clock.ts";

/** Leases on a hub database in a fresh directory (a real libsql file); beats only when the test calls beat(). */
async function leasesOn(leaseMs: number) {
  const dir = await Deno.makeTempDir({ prefix: "leases_clock_" });
  const db = await openHubDb(dir);
  const leases = new ClusterLeases(db, { version: "test" }, { leaseMs, beatMs: 3600_000 });
  await leases.start();
  return {
    leases,
    async [Symbol.asyncDispose]() {
      await leases.stop();
      await db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("ClusterLeases.healthy stays true after a beat when the wall clock steps an hour forward", async () => {
  await using rig = await leasesOn(60_000);
  assert.equal(rig.leases.healthy, true);
  await withWallClockStepped(3600_000, () => assert.equal(rig.leases.healthy, true, "a beat 0 s ago"));
});

Deno.test("ClusterLeases.healthy turns false a lease after the last beat when the wall clock steps an hour back", async () => {
  await using rig = await leasesOn(200);
  await rig.leases.beat();
  assert.equal(rig.leases.healthy, true);
  await withWallClockStepped(-3600_000, async () => {
    // No beat since: a lease (200 ms of monotonic time) later the hub no longer counts itself healthy.
    const beat = performance.now();
    while (performance.now() - beat < 250) await new Promise((r) => setTimeout(r, 20));
    assert.equal(rig.leases.healthy, false, "no beat for longer than a lease");
  });
});
