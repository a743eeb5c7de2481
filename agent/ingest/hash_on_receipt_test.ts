/**
 * A C-STORE's bytes are hashed as they arrive only where a route sends originals to another site (their
 * first send announces the hash); elsewhere the row is written without it and the backfill adds it.
 * Real archive, intake and libsql file; one generated object stored as the wire layer stores it.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { NOT_HASHED } from "../index/instances.ts";
import { Queue } from "../queue/queue.ts";
import { type CompiledRoute, type RouteDeid, sendsOriginalsToSites } from "../routing/rules.ts";
import { ingestRig } from "./testing.ts";

function routeTo(destinations: string[], deid?: RouteDeid): CompiledRoute {
  return { name: "r", destinations, deid, matches: () => true };
}
const someDeid = { profile: {}, key: new Uint8Array(32), allowBurnedIn: false } as unknown as RouteDeid;

/** An ingest whose routes are `routes` (real archive, intake and index), and one generated object. */
function rig(routes: CompiledRoute[], seed: string, sync = false) {
  return ingestRig(seed, sync, (db) => ({ routing: { routes, queue: new Queue(db), queued: () => {} } }), 16);
}

/** Stores one generated object through an ingest with `routes`; the index's sha256 and queue rows. */
async function storeWith(routes: CompiledRoute[], seed: string) {
  const { db, dataset, sopInstanceUid, store, tearDown } = await rig(routes, seed);
  try {
    assert.equal((await store(dataset)).outcome.status, 0);
    const row = db.statement("SELECT sha256 FROM instances WHERE sop_instance_uid = ?").get(sopInstanceUid);
    const queued = db.statement("SELECT destination FROM queue ORDER BY destination").all()
      .map((r) => String(r.destination));
    return {
      sha256: String(row?.sha256),
      expected: createHash("sha256").update(dataset).digest("hex"),
      queued,
    };
  } finally {
    await tearDown();
  }
}

Deno.test("a route that sends originals to a site: the C-STORE's SHA-256 is in its first index row", async () => {
  const got = await storeWith([routeTo(["pacs"]), routeTo(["@south/pacs"])], "hash-site");
  assert.equal(got.sha256, got.expected);
  assert.deepEqual(got.queued, ["@south/pacs", "pacs"]);
});

Deno.test("no route to a site, or only de-identifying ones: the row waits for the backfill's hash", async () => {
  for (const routes of [[], [routeTo(["pacs"])], [routeTo(["@south"], someDeid)]]) {
    const got = await storeWith(routes, "hash-none");
    assert.equal(got.sha256, NOT_HASHED, JSON.stringify(routes.map((r) => [r.destinations, !!r.deid])));
  }
});

Deno.test("sendsOriginalsToSites: site destinations of routes that do not de-identify", () => {
  assert.equal(sendsOriginalsToSites([]), false);
  assert.equal(sendsOriginalsToSites([routeTo(["pacs", "archive"])]), false);
  assert.equal(sendsOriginalsToSites([routeTo(["@south"], someDeid)]), false);
  assert.equal(sendsOriginalsToSites([routeTo(["pacs"]), routeTo(["@south"])]), true);
  assert.equal(sendsOriginalsToSites([routeTo(["@east/ris"])]), true);
});

Deno.test("hashed as it arrived, a resend is told by its hash before any sync; other bytes are not", async () => {
  const { dataset, store, tearDown } = await rig([routeTo(["@south"])], "hash-resend", true);
  try {
    assert.equal((await store(dataset)).sink.sameAsStored, false, "the first one is stored");
    const again = await store(dataset);
    assert.equal(again.outcome.status, 0);
    assert.equal(again.sink.sameAsStored, true, "the same bytes: taken for the archived object");
    const other = dataset.slice();
    other[other.length - 1] ^= 1;
    const changed = await store(other);
    assert.equal(changed.outcome.status, 0);
    assert.equal(changed.sink.sameAsStored, false, "other bytes of the same size go the usual way");
  } finally {
    await tearDown();
  }
});
