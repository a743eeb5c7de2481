import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "../queue/queue.ts";
import type { Forwarder } from "../forward/forwarder.ts";
import { queueRoutes } from "./queue.ts";

/** A queue over a real libsql file indexing `instances` CT objects, its routes, and a POST to them. */
async function queueApp(seed: string, instances: number) {
  const specs = [...generateStudies({
    seed,
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances }],
    rows: 8,
    columns: 8,
  })];
  const db = await indexedDatabase(specs);
  const queue = new Queue(db);
  const forwarder = { knownDestinations: () => ["pacs"], wake: () => {} } as unknown as Forwarder;
  const app = queueRoutes(queue, forwarder);
  const post = (path: string, body: unknown) =>
    app.request(path, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
  return { specs, sops: specs.map((s) => s.sopInstanceUid), db, queue, post };
}

/**
 * The queue's retry and replay over a real libsql file: a destination nobody configured and no row names
 * (a misspelt one) is a 404 naming the destinations there are, not a count of 0 that reads as done.
 */
Deno.test("POST /retry and /replay: an unknown destination is 404 with the known ones, a known one counts", async () => {
  const { sops, db, queue, post } = await queueApp("queue-http", 2);
  try {
    queue.enqueueRoute(sops, "old", "retired"); // rows of a node since removed
    for (const path of ["/retry", "/replay"]) {
      const misspelt = await post(path, { destination: "pcas" });
      assert.equal(misspelt.status, 404, path);
      assert.deepEqual(await misspelt.json(), { error: 'no destination named "pcas" (pacs, retired)' });
      for (const destination of ["pacs", "retired"]) {
        const known = await post(path, { destination });
        assert.equal(known.status, 200, `${path} ${destination}`);
      }
      assert.equal((await post(path, { all: true })).status, 200);
    }
  } finally {
    db.close();
  }
});

/** Discard over a real libsql file: dead rows only, narrowed as asked; a body that names nothing is 400. */
Deno.test("POST /discard deletes dead rows only, by destination, ids or age; nothing named is 400", async () => {
  const app = await queueApp("queue-discard", 3);
  const { db, queue } = app;
  try {
    queue.enqueueRoute(app.sops, "r", "pacs");
    const post = async (body: unknown) => {
      const r = await app.post("/discard", body);
      return [r.status, await r.json()];
    };
    assert.deepEqual(await post({}), [400, {
      error: "bad request",
      issues: [{
        code: "custom",
        message: "give destination, ids, olderThanSeconds, or all: true",
        path: [],
      }],
    }]);
    assert.equal((await post({ destination: "pcas" }))[0], 404);
    const [a, b] = queue.claim("pacs", 2, Date.now());
    queue.markFailed(a.id, { status: 0x0122, error: "refused", dead: true, next: 0 });
    queue.markFailed(b.id, { status: 0x0122, error: "refused", dead: true, next: 0 });
    assert.deepEqual(
      await post({ all: true, olderThanSeconds: 3600 }),
      [200, { discarded: 0 }],
      "dead just now",
    );
    const pending = queue.list({ state: "pending" })[0];
    assert.deepEqual(
      await post({ ids: [a.id, pending.id] }),
      [200, { discarded: 1 }],
      "the pending row stays",
    );
    assert.deepEqual(await post({ destination: "pacs" }), [200, { discarded: 1 }]);
    assert.deepEqual(queue.list().map((r) => [r.id, r.state]), [[pending.id, "pending"]]);
  } finally {
    db.close();
  }
});

/**
 * A list of ids longer than SQLite binds in one statement (32 766): every row it names changes, in one
 * transaction, counted once (until 2026-12-05 such a list was a 500, "too many SQL variables").
 */
Deno.test("POST /abandon, /replay, /retry and /discard take a list of 40 000 ids, duplicates counted once", async () => {
  const app = await queueApp("queue-ids", 3);
  const { db, queue } = app;
  try {
    queue.enqueueRoute(app.sops, "r", "pacs");
    const rowIds = queue.list().map((r) => r.id);
    // The rows' ids last, past the first statements, one of them twice; the rest name no row.
    const ids = [...Array.from({ length: 40_000 }, (_, i) => 1_000_000 + i), ...rowIds, rowIds[0]];
    const post = async (path: string) => {
      const r = await app.post(path, { ids });
      return [r.status, await r.json()];
    };
    assert.deepEqual(await post("/abandon"), [200, { abandoned: 3 }]);
    assert.deepEqual(await post("/retry"), [200, { retried: 0 }], "no failed row");
    assert.deepEqual(await post("/replay"), [200, { replayed: 3 }]);
    assert.deepEqual(queue.list().map((r) => r.state), ["pending", "pending", "pending"]);
    assert.deepEqual(await post("/abandon"), [200, { abandoned: 3 }]);
    assert.deepEqual(await post("/discard"), [200, { discarded: 3 }]);
    assert.equal(queue.list().length, 0);
  } finally {
    db.close();
  }
});

/**
 * GET /queue's limit over a real libsql file: out of range or not a number is a 400 that says the range
 * (it was clamped quietly: -5 listed 1 row, 0 and "abc" listed 100), and a limit in range lists that many.
 */
Deno.test("GET /queue refuses a limit out of range with 400 and lists as many rows as a good one asks", async () => {
  const { sops, db, queue } = await queueApp("queue-limit", 3);
  try {
    queue.enqueueRoute(sops, "r", "pacs");
    const app = queueRoutes(
      queue,
      { knownDestinations: () => ["pacs"], wake: () => {} } as unknown as Forwarder,
    );
    for (const limit of ["-5", "0", "abc", "1.5", "10001", ""]) {
      const res = await app.request(`/?limit=${limit}`);
      assert.equal(res.status, 400, limit);
      assert.deepEqual(await res.json(), {
        error: `limit is a number of rows from 1 to 10000, not ${JSON.stringify(limit)}`,
      });
    }
    for (const [limit, rows] of [["2", 2], ["10000", 3], [undefined, 3]] as const) {
      const res = await app.request(limit === undefined ? "/" : `/?limit=${limit}`);
      assert.equal(res.status, 200, limit);
      assert.equal((await res.json()).length, rows, limit);
    }
  } finally {
    db.close();
  }
});
