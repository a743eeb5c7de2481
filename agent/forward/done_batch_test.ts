import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "../queue/queue.ts";
import { DoneBatch } from "./done_batch.ts";

/** A real libsql file with `n` indexed objects, each queued for destination "a" and claimed. */
async function claimed(n: number) {
  const specs = [...generateStudies({
    seed: "done-batch",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: n }],
    rows: 4,
    columns: 4,
  })];
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(spec.sopInstanceUid, [{ route: "r", destination: "a" }], 1000);
  });
  const queue = new Queue(db);
  return { db, queue, rows: queue.claim("a", n, 2000) };
}

const states = (queue: Queue) => queue.list().map((r) => r.state).sort();

Deno.test("DoneBatch marks acknowledged rows done together after the gather time, not before", async () => {
  const { db, queue, rows } = await claimed(3);
  try {
    const errors: unknown[] = [];
    const batch = new DoneBatch(queue, (err) => errors.push(err), 30);
    batch.add(rows[0].id);
    batch.add(rows[1].id);
    assert.equal(batch.pending, 2);
    assert.deepEqual(
      states(queue),
      ["in_flight", "in_flight", "in_flight"],
      "in flight until the group commits",
    );
    assert.equal(
      queue.claim("a", 10, 3000).length,
      0,
      "a row waiting for its done mark is not claimed again",
    );
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(batch.pending, 0);
    assert.deepEqual(states(queue), ["done", "done", "in_flight"]);
    batch.add(rows[2].id);
    batch.flush(); // the forwarder stops: no waiting
    assert.deepEqual(states(queue), ["done", "done", "done"]);
    assert.deepEqual(errors, []);
  } finally {
    db.close();
  }
});

Deno.test("DoneBatch reports a commit that fails with its row count, and does not throw into the forwarder", async () => {
  const { db, queue, rows } = await claimed(2);
  const errors: number[] = [];
  const batch = new DoneBatch(queue, (_err, n) => errors.push(n), 10_000);
  batch.add(rows[0].id);
  batch.add(rows[1].id);
  db.close();
  batch.flush();
  assert.deepEqual(errors, [2]);
  assert.equal(batch.pending, 0);
});
