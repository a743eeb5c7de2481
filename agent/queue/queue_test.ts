import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "./queue.ts";

/** A real libsql file with three indexed objects, each queued for destination "a". */
async function queued() {
  const specs = [...generateStudies({
    seed: "q",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 3 }],
    rows: 4,
    columns: 4,
  })];
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(spec.sopInstanceUid, [{ route: "r", destination: "a" }], 1000);
  });
  const queue = new Queue(db);
  return { db, queue };
}

Deno.test("Queue.claim() takes due rows once, and results apply only to rows still in flight", async () => {
  const { db, queue } = await queued();
  try {
    const rows = queue.claim("a", 2, 2000);
    assert.equal(rows.length, 2);
    assert.ok(rows.every((r) => r.key.startsWith("archive/") && r.sopClassUid));
    assert.equal(queue.claim("a", 10, 2000).length, 1, "the claimed rows are not handed out again");
    queue.markDone(rows[0].id, 3000);
    queue.markFailed(rows[1].id, { status: 0xa700, error: "busy", dead: false, next: 5000 }, 3000);
    const states = Object.fromEntries(queue.list().map((r) => [r.id, r.state]));
    assert.equal(states[rows[0].id], "done");
    assert.equal(states[rows[1].id], "failed");
    assert.equal(queue.claim("a", 10, 4000).length, 0, "a failed row waits for its next attempt time");
    assert.equal(queue.claim("a", 10, 5000).length, 1);
    // A row reset while in flight (a replacement) is not overwritten by the worker's late result.
    queue.addInTransaction(rows[0].sopInstanceUid, [{ route: "r", destination: "a" }], 6000);
    queue.markDone(rows[0].id, 7000);
    assert.equal(queue.list().find((r) => r.id === rows[0].id)!.state, "pending");
  } finally {
    db.close();
  }
});

Deno.test("Queue.recover(), retry(), replay() and pruneDone() move only the rows they name", async () => {
  const { db, queue } = await queued();
  try {
    const [a, b, c] = queue.claim("a", 3, 2000);
    assert.equal(queue.recover(2500), 3, "all three were in flight");
    assert.equal(queue.list({ state: "pending" }).length, 3);
    queue.claim("a", 3, 3000);
    queue.markFailed(a.id, { status: null, error: "refused", dead: false, next: 99_999 }, 3000);
    queue.markFailed(b.id, { status: 0x0122, error: "no context", dead: true, next: 99_999 }, 3000);
    queue.markDone(c.id, 3000);
    assert.equal(queue.retry({ ids: [b.id] }, 4000), 0, "retry does not touch dead rows");
    assert.equal(queue.retry({ destination: "a" }, 4000), 1);
    assert.equal(queue.replay({ ids: [b.id] }, 4000), 1);
    const replayed = queue.list().find((r) => r.id === b.id)!;
    assert.equal(replayed.state, "pending");
    assert.equal(replayed.attempts, 0, "replay resets attempts");
    assert.equal(queue.pruneDone(3000), 0, "done at 3000 is not before 3000");
    assert.equal(queue.pruneDone(3001), 1);
    assert.equal(queue.list().length, 2);
  } finally {
    db.close();
  }
});

Deno.test("Queue.cancelRoute() takes waiting rows out, a row in flight at the cancel is never tried again, replay leaves them", async () => {
  const { db, queue } = await queued();
  try {
    const [a, b] = queue.claim("a", 2, 2000);
    assert.equal(queue.cancelRoute("r", 2500), 1, "the one waiting row is canceled at once");
    queue.markFailed(a.id, { status: null, error: "relay refused", dead: false, next: 3000 }, 2600);
    queue.release(b.id, 2600);
    const rows = queue.list();
    assert.deepEqual(rows.map((r) => [r.state, r.lastError]), [["dead", "canceled"], ["dead", "canceled"], [
      "dead",
      "canceled",
    ]]);
    assert.equal(queue.claim("a", 10, 10_000).length, 0);
    assert.equal(queue.routeProgress("r").canceled, 3);
    // The dead letter's replay leaves them: they were canceled (the transfer is retried at the hub), not
    // failed; replayed, the next failure or release would send them straight back to dead.
    assert.equal(queue.replay({ destination: "a" }, 11_000), 0);
    assert.equal(queue.replay({ ids: rows.map((r) => r.id) }, 11_000), 0);
    assert.equal(queue.routeProgress("r").canceled, 3);
  } finally {
    db.close();
  }
});

Deno.test("Queue.isPaused() follows setPaused, and a new Queue over the same file reads what was set", async () => {
  const { db, queue } = await queued();
  try {
    assert.equal(queue.isPaused("a"), false);
    queue.setPaused("a", true, 2000);
    assert.equal(queue.isPaused("a"), true);
    assert.equal(new Queue(db).isPaused("a"), true, "kept in the file");
    queue.setPaused("a", false, 3000);
    assert.equal(queue.isPaused("a"), false);
    assert.equal(new Queue(db).isPaused("a"), false);
  } finally {
    db.close();
  }
});

Deno.test("Queue.addInTransaction() without resend keeps a node's row from the hub done; delivery() counts it", async () => {
  const { db, queue } = await queued();
  try {
    const sops = [...new Set(queue.list().map((r) => r.sopInstanceUid))];
    const tunnel = [{ route: "tunnel:@north", destination: "pacs" }];
    db.write(() => sops.forEach((sop) => queue.addInTransaction(sop, tunnel, 1000)));
    const [first, second, third] = queue.claim("pacs", 3, 2000);
    queue.markDone(first.id, 3000);
    queue.markFailed(second.id, { status: 0xa700, error: "busy", dead: true, next: 0 }, 3000);
    // The same objects committed again as new (two copies that arrived at once): a done or in-flight
    // row stays as it is, a dead one goes again.
    db.write(() => sops.forEach((sop) => queue.addInTransaction(sop, tunnel, 4000, false)));
    const state = (id: number) => queue.list().find((r) => r.id === id)!.state;
    assert.deepEqual([state(first.id), state(second.id), state(third.id)], ["done", "pending", "in_flight"]);
    // New bytes (resend) go again.
    db.write(() => queue.addInTransaction(first.sopInstanceUid, tunnel, 5000, true));
    assert.equal(state(first.id), "pending");

    queue.markDone(queue.claim("pacs", 3, 6000).find((r) => r.id === first.id)!.id, 6000);
    queue.markFailed(second.id, { status: 0xa700, error: "refused", dead: true, next: 0 }, 6000);
    assert.deepEqual(queue.delivery("pacs", [...sops, "1.2.3"]), {
      done: 1,
      waiting: 1,
      dead: 1,
      unknown: 1,
      lastError: "refused",
    });
    assert.equal(
      queue.delivery("pacs", [second.sopInstanceUid], true).waiting,
      1,
      "replayDead queues it again",
    );
  } finally {
    db.close();
  }
});
