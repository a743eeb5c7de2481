import assert from "node:assert/strict";
import { generateStudies } from "@conduit/shared/testing";
import { indexedDatabase } from "../index/testing.ts";
import { Queue } from "./queue.ts";
import { hubRow } from "./rows.ts";
import { CANCELED } from "./keys.ts";

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

Deno.test("Queue.claim() hands out failed and pending rows together, the longest due first, up to its limit", async () => {
  const { db, queue } = await queued();
  try {
    // Rows queued at 1000; one fails and is due again at 1500, before a row queued later (at 2000).
    const [first] = queue.claim("a", 1, 1000);
    queue.markFailed(first.id, { status: 0xa700, error: "busy", dead: false, next: 1500 }, 1100);
    const [late] = queue.claim("a", 1, 1200);
    queue.release(late.id, 1200);
    db.write(() => db.statement("UPDATE queue SET next_attempt_at = 2000 WHERE id = ?").run(late.id));
    const pending = queue.list().find((r) => r.state === "pending" && r.id !== late.id)!;
    assert.deepEqual(queue.claim("a", 2, 3000).map((r) => r.id), [pending.id, first.id]);
    assert.deepEqual(queue.claim("a", 2, 3000).map((r) => r.id), [late.id]);
  } finally {
    db.close();
  }
});

Deno.test("Queue.nextDue() is the earliest due time of one destination's pending and failed rows; a failed row alone is claimed", async () => {
  const { db, queue } = await queued();
  try {
    assert.equal(queue.nextDue("a"), 1000);
    assert.equal(queue.nextDue("elsewhere"), undefined, "another destination's rows are not its own");
    const rows = queue.claim("a", 3, 1000);
    assert.equal(queue.nextDue("a"), undefined, "rows in flight are not due");
    queue.markFailed(rows[0].id, { status: 0xa700, error: "busy", dead: false, next: 4000 }, 1100);
    queue.markFailed(rows[1].id, { status: 0xa700, error: "busy", dead: false, next: 3000 }, 1100);
    assert.equal(queue.nextDue("a"), 3000);
    assert.equal(queue.claim("a", 10, 2999).length, 0, "nothing due before the first retry");
    assert.deepEqual(
      queue.claim("a", 10, 3000).map((r) => r.id),
      [rows[1].id],
      "a failed row due, no pending one",
    );
    queue.release(rows[2].id, 3100);
    assert.equal(queue.nextDue("a"), 1000, "a released row is pending at its own time again");
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
    // abandon takes waiting rows (pending, failed) to the dead letter, not those in flight or done.
    const [flying] = queue.claim("a", 1, 4500);
    const waiting = flying.id === a.id ? b : a;
    assert.equal(queue.abandon({ destination: "a" }, 4600), 1, "one waiting, one in flight, c done");
    const row = (id: number) => queue.list().find((r) => r.id === id)!;
    assert.deepEqual([row(waiting.id).state, row(waiting.id).lastError], [
      "dead",
      "abandoned by the operator",
    ]);
    assert.deepEqual(
      queue.summary(4600).map((r) => [r.state, r.count]).sort(),
      [["abandoned", 1], ["done", 1], ["in_flight", 1]],
      "counted apart from the dead letter",
    );
    assert.equal(row(flying.id).state, "in_flight");
    queue.release(flying.id, 4700);
    assert.equal(queue.abandon({ ids: [flying.id, c.id] }, 4800), 1, "pending again, c done");
    assert.equal(queue.replay({ destination: "a" }, 4900), 2);
    assert.equal(queue.pruneDone(3000), 0, "done at 3000 is not before 3000");
    assert.equal(queue.pruneDone(3001), 1);
    assert.equal(queue.list().length, 2);
  } finally {
    db.close();
  }
});

Deno.test("Queue.discardDead() deletes dead rows only, by ids, destination, age or all, and says how many", async () => {
  const { db, queue } = await queued();
  try {
    const heard: [number, string][] = [];
    queue.onDiscarded = (n, by) => heard.push([n, by]);
    const [a, b, c] = queue.claim("a", 3, 2000);
    queue.markFailed(a.id, { status: 0x0122, error: "no context", dead: true, next: 0 }, 3000);
    queue.markFailed(b.id, { status: 0x0122, error: "no context", dead: true, next: 0 }, 5000);
    queue.markDone(c.id, 3000);
    const ids = () => queue.list().map((r) => r.id).sort();
    assert.throws(() => queue.discardDead({}), /needs a destination, ids, an age or all/);
    assert.equal(queue.discardDead({ ids: [c.id] }), 0, "a done row is never discarded");
    assert.equal(queue.discardDead({ destination: "elsewhere" }), 0);
    assert.equal(queue.discardDead({ deadBefore: 3000 }, "age"), 0, "dead at 3000 is not before 3000");
    assert.equal(queue.discardDead({ deadBefore: 4000 }, "age"), 1);
    assert.deepEqual(ids(), [b.id, c.id].sort());
    assert.equal(queue.replay({ ids: [a.id] }), 0, "a discarded row cannot be replayed");
    // Abandoned rows are dead rows: discarded with the others of their destination.
    queue.addInTransaction("1.2.3.9", [{ route: "r", destination: "b" }], 6000);
    assert.equal(queue.abandon({ destination: "b" }, 6100), 1);
    assert.equal(queue.discardDead({ all: true }), 2);
    assert.deepEqual(ids(), [c.id]);
    assert.deepEqual(heard, [[1, "age"], [2, "operator"]]);
  } finally {
    db.close();
  }
});

Deno.test("Queue.canceledSinceClaim() tells a worker which of its claimed rows a cancel took, and release makes them dead", async () => {
  const { db, queue } = await queued();
  try {
    const [a, b] = queue.claim("a", 2, 2000);
    assert.equal(queue.canceledSinceClaim(a), false);
    queue.cancelRoute("r", 2500);
    assert.equal(queue.canceledSinceClaim(a), true);
    assert.equal(queue.canceledSinceClaim(b), true);
    queue.release(b.id, 2600); // left unsent by its worker
    assert.deepEqual(queue.list().find((r) => r.id === b.id)!.state, "dead");
    assert.equal(queue.routeProgress("r").canceled, 2, "the one waiting and the one left unsent");
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
    // The summary (and the metric, and the dead letter's alert) counts them apart: no one has to look at them.
    assert.deepEqual(queue.summary(11_000).map((r) => [r.state, r.count]), [["canceled", 3]]);
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
      retrying: 0,
      dead: 1,
      unknown: 1,
      lastError: "refused",
    });
    // Asked to, it lists the objects not stored, each with its own last error; done and unknown ones not.
    assert.deepEqual(
      queue.delivery("pacs", [...sops, "1.2.3"], false, 6000, false, true).notStored,
      [
        { sopInstanceUid: second.sopInstanceUid, state: "dead", lastError: "refused" },
        { sopInstanceUid: third.sopInstanceUid, state: "waiting", lastError: "" },
      ],
    );
    assert.equal(
      queue.delivery("pacs", [second.sopInstanceUid], true).waiting,
      1,
      "replayDead queues it again",
    );
  } finally {
    db.close();
  }
});

Deno.test("Queue: rows awaiting Storage Commitment are neither claimed nor done until their report", async () => {
  const { db, queue } = await queued();
  try {
    const rows = queue.claim("a", 3, 2000);
    queue.markCommitting(rows.map((r) => ({ id: r.id, status: 0 })), "2.25.1", 10_000, 3000);
    assert.ok(queue.list().every((r) => r.state === "committing" && r.attempts === 1));
    assert.equal(queue.claim("a", 10, 20_000).length, 0, "not claimed again, even past their deadline");
    assert.equal(queue.routeProgress("r").inFlight, 3, "on their way for a transfer's progress");
    assert.equal(queue.delivery("a", rows.map((r) => r.sopInstanceUid)).waiting, 3);
    // Asked with `committing` (a hub that knows the state): counted and listed apart, with why they wait.
    queue.commitmentDueAt([rows[0].id], 10_000, "association refused", 3500);
    assert.deepEqual(queue.delivery("a", rows.map((r) => r.sopInstanceUid), false, 4000, true), {
      done: 0,
      waiting: 0,
      retrying: 0,
      dead: 0,
      unknown: 0,
      committing: 3,
      committingUids: rows.map((r) => r.sopInstanceUid),
      lastError: "association refused",
    });
    assert.equal(queue.dueCommitments(9_999).length, 0);
    assert.equal(queue.dueCommitments(10_000).length, 3);
    assert.ok(queue.committingRows("2.25.1").every((r) => r.sopClassUid && r.commitAsks === 1));
    // The hub's view (older hubs know five states) shows them in flight.
    assert.ok(queue.list().map(hubRow).every((r) => r.state === "in_flight"));
    // Asked again under a new UID: a report on the old one no longer applies.
    queue.markReasked([rows[0].id], "2.25.2", 50_000, 11_000);
    assert.equal(queue.markCommitted([rows[0].id], "2.25.1", 12_000), 0);
    assert.equal(queue.markCommitted([rows[0].id, rows[1].id], "2.25.2", 12_000), 1);
    assert.equal(queue.markCommitted([rows[1].id], "2.25.1", 12_000), 1);
    assert.ok(queue.markCommitFailed(rows[2].id, { status: 0x0112, error: "x", dead: false, next: 13_000 }));
    const byId = new Map(queue.list().map((r) => [r.id, r]));
    assert.equal(byId.get(rows[0].id)!.state, "done");
    assert.equal(byId.get(rows[1].id)!.state, "done");
    assert.equal(byId.get(rows[2].id)!.state, "failed");
    assert.equal(queue.claim("a", 10, 13_000).length, 1, "a failed commitment is stored again");
  } finally {
    db.close();
  }
});

Deno.test("Queue.recoverCommitments() makes every row awaiting a report due now (asked again at start)", async () => {
  const { db, queue } = await queued();
  try {
    const rows = queue.claim("a", 3, 2000);
    queue.markCommitting(rows.map((r) => ({ id: r.id, status: 0 })), "2.25.7", 1e12, 3000);
    assert.equal(queue.recover(4000), 0, "not in flight: recover() leaves them");
    assert.equal(queue.recoverCommitments(4000), 3);
    assert.equal(queue.dueCommitments(4000).length, 3);
  } finally {
    db.close();
  }
});

Deno.test("Queue.cancelRoute(): a row awaiting commitment finishes it, and is not stored again if it fails", async () => {
  const { db, queue } = await queued();
  try {
    const rows = queue.claim("a", 3, 2000);
    queue.markCommitting(rows.map((r) => ({ id: r.id, status: 0 })), "2.25.5", 10_000, 3000);
    assert.equal(queue.cancelRoute("r", 4000), 0, "no waiting row taken out");
    queue.commitmentDueAt([rows[0].id], 5000, "refused", 4500);
    assert.equal(queue.markCommitted([rows[1].id], "2.25.5", 5000), 1);
    queue.markCommitFailed(rows[2].id, { status: 0x0112, error: "x", dead: false, next: 6000 }, 5000);
    const byId = new Map(queue.list().map((r) => [r.id, r]));
    assert.equal(byId.get(rows[0].id)!.lastError, "canceled", "the mark survives a refused request");
    assert.equal(byId.get(rows[1].id)!.state, "done", "committed: delivered");
    assert.equal(byId.get(rows[2].id)!.state, "dead", "failed: not stored again");
  } finally {
    db.close();
  }
});

Deno.test("Queue.markFailedMany() leaves every row as markFailed() one by one would, in one synced commit", async () => {
  const one = await queued();
  const many = await queued();
  try {
    const outcomes = [
      { status: null, error: "x".repeat(600), dead: false, next: 8000 },
      { status: 0x0122, error: "no context", dead: true, next: 9000 },
      { status: null, error: "refused", dead: false, next: 9000 },
    ];
    const failures = [];
    for (const { db, queue } of [one, many]) {
      const [a, b, c] = queue.claim("a", 3, 2000);
      // The third row's route is canceled while it is claimed (cancelRoute marks its rows in flight so).
      db.write(() => db.statement(`UPDATE queue SET last_error = '${CANCELED}' WHERE id = ?`).run(c.id));
      failures.push([a, b, c].map((r, i) => ({ id: r.id, outcome: outcomes[i] })));
    }
    for (const f of failures[0]) one.queue.markFailed(f.id, f.outcome, 3000);
    const before = many.db.commits.synced;
    many.queue.markFailedMany(failures[1], 3000);
    assert.equal(many.db.commits.synced - before, 1);
    const strip = (rows: { id: number }[]) => rows.map((r) => ({ ...r, id: 0 }));
    assert.deepEqual(strip(many.queue.list()), strip(one.queue.list()));
    const states = many.queue.list().map((r) => [r.state, r.attempts, r.lastError.length]);
    assert.deepEqual(
      states.sort(),
      [["dead", 1, CANCELED.length], ["dead", 1, 10], ["failed", 1, 500]].sort(),
    );
  } finally {
    one.db.close();
    many.db.close();
  }
});

Deno.test("Queue.discardDead() marks the objects whose dead rows it deletes; the mark goes with the object", async () => {
  const { db, queue } = await queued();
  try {
    const [a, b] = queue.claim("a", 2, 2000);
    for (const r of [a, b]) {
      queue.markFailed(r.id, { status: 0x0122, error: "no", dead: true, next: 0 }, 3000);
    }
    const marks = () =>
      db.statement("SELECT sop_instance_uid AS sop, discarded_at AS at FROM queue_discarded ORDER BY 1")
        .all();
    assert.equal(queue.discardDead({ ids: [a.id] }, "operator", 4000), 1);
    assert.deepEqual(marks(), [{ sop: a.sopInstanceUid, at: 4000 }], "only the discarded row's object");
    // An object erased (its index row deleted) takes its mark with it.
    db.write(() => {
      db.statement("DELETE FROM queue WHERE sop_instance_uid = ?").run(a.sopInstanceUid);
      db.statement("DELETE FROM instances WHERE sop_instance_uid = ?").run(a.sopInstanceUid);
    });
    assert.deepEqual(marks(), []);
  } finally {
    db.close();
  }
});

Deno.test("Queue.release() puts a batch's rows back in one unsynced commit, a canceled one dead", async () => {
  const { db, queue } = await queued();
  try {
    const [a, b, c] = queue.claim("a", 3, 2000);
    db.write(() => db.statement(`UPDATE queue SET last_error = '${CANCELED}' WHERE id = ?`).run(c.id));
    const before = { ...db.commits };
    queue.release([a.id, b.id, c.id], 3000);
    assert.deepEqual(db.commits, { synced: before.synced, unsynced: before.unsynced + 1 });
    const states = new Map(queue.list().map((r) => [r.id, [r.state, r.attempts]]));
    assert.deepEqual([a, b, c].map((r) => states.get(r.id)), [["pending", 0], ["pending", 0], ["dead", 0]]);
  } finally {
    db.close();
  }
});

Deno.test("Queue.delivery() lists what is not stored within one control record, each error cut short", async () => {
  const specs = [...generateStudies({
    seed: "q-many",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1500 }],
    rows: 2,
    columns: 2,
  })];
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(
      spec.sopInstanceUid,
      [{ route: "tunnel:@north", destination: "pacs" }],
      1000,
    );
  });
  const queue = new Queue(db);
  try {
    const reason = "the node refused it: " + "x".repeat(2000);
    for (const row of queue.claim("pacs", 2000, 2000)) {
      queue.markFailed(row.id, { status: 0xa700, error: reason, dead: true, next: 0 }, 3000);
    }
    const d = queue.delivery("pacs", specs.map((s) => s.sopInstanceUid), false, 4000, false, true);
    assert.equal(d.dead, 1500);
    const record = new TextEncoder().encode(JSON.stringify({ type: "ok", detail: d })).byteLength;
    assert.ok(record < 1024 * 1024, `the reply fits one control record (${record} bytes)`);
    assert.ok(d.notStored!.length > 500, `most are listed (${d.notStored!.length})`);
    assert.ok(d.notStored!.every((o) => o.state === "dead" && o.lastError === reason.slice(0, 300)));
  } finally {
    db.close();
  }
});

Deno.test("Queue.delivery() counts the waiting objects whose last attempt failed as retrying", async () => {
  const { db, queue } = await queued();
  try {
    const rows = queue.claim("a", 3, 2000);
    queue.markFailed(
      rows[1].id,
      { status: null, error: "Connection refused", dead: false, next: 3000 },
      3000,
    );
    const d = queue.delivery("a", rows.map((r) => r.sopInstanceUid));
    assert.deepEqual([d.waiting, d.retrying, d.dead, d.lastError], [3, 1, 0, "Connection refused"]);
  } finally {
    db.close();
  }
});

Deno.test("Queue.dueNow() brings forward a destination's rows that failed unanswered, not those a status failed", async () => {
  const { db, queue } = await queued();
  try {
    const rows = queue.claim("a", 3, 2000);
    queue.markFailed(
      rows[0].id,
      { status: null, error: "Connection refused", dead: false, next: 60_000 },
      3000,
    );
    queue.markFailed(
      rows[1].id,
      { status: 0xa700, error: "out of resources", dead: false, next: 60_000 },
      3000,
    );
    queue.markFailed(rows[2].id, { status: null, error: "timed out", dead: false, next: 4000 }, 3000);
    assert.equal(queue.dueNow("a", 5000), 1, "only the row refused unanswered and not yet due");
    const next = new Map(queue.list().map((r) => [r.id, r.nextAttemptAt]));
    assert.deepEqual([next.get(rows[0].id), next.get(rows[1].id), next.get(rows[2].id)], [
      5000,
      60_000,
      4000,
    ]);
    assert.equal(queue.claim("a", 10, 5000).length, 2, "claimed now with the one already due");
    assert.equal(queue.dueNow("b", 5000), 0, "another destination's rows are not touched");
  } finally {
    db.close();
  }
});

Deno.test("Queue.holdRoute() moves held pending rows to a new opening, earlier or later; failed rows only later", async () => {
  const { db, queue } = await queued();
  try {
    const [a] = queue.claim("a", 1, 2000);
    queue.markFailed(a.id, { status: null, error: "refused", dead: false, next: 50_000 }, 2000);
    const times = () => queue.list().map((r) => [r.state, r.nextAttemptAt]).sort();
    assert.equal(queue.holdRoute("r", 100_000, 3000), 3);
    assert.deepEqual(times(), [["failed", 100_000], ["pending", 100_000], ["pending", 100_000]]);
    // The window moved to an earlier opening: the pending rows go then (until 2026-12-07 they kept the later
    // one); the failed row keeps its time (its backoff, or a hold, whichever is later).
    assert.equal(queue.holdRoute("r", 60_000, 4000), 2);
    assert.deepEqual(times(), [["failed", 100_000], ["pending", 60_000], ["pending", 60_000]]);
    assert.equal(queue.holdRoute("r", 60_000, 5000), 0, "the same hold again changes nothing");
    assert.equal(queue.holdRoute("r", 0, 6000), 2, "released: the pending rows are due now");
    assert.deepEqual(times(), [["failed", 100_000], ["pending", 6000], ["pending", 6000]]);
  } finally {
    db.close();
  }
});

Deno.test("Queue.summary(): a pending row waits from when it became due, so rows held for a window are not late", async () => {
  const { db, queue } = await queued(); // three rows created at 1000
  try {
    const pendingAge = (now: number) => queue.summary(now).find((r) => r.state === "pending")?.oldest;
    assert.equal(pendingAge(4000), 3000, "due since they were queued");
    queue.holdRoute("r", 100_000, 5000);
    assert.equal(
      pendingAge(50_000),
      0,
      "held until 100000: not late at 50000 (it was 49000 until 2026-12-07)",
    );
    assert.equal(pendingAge(130_000), 30_000, "late since the opening");
    const [a] = queue.claim("a", 1, 130_000);
    queue.markFailed(a.id, { status: null, error: "refused", dead: false, next: 200_000 }, 130_000);
    assert.equal(
      queue.summary(140_000).find((r) => r.state === "failed")?.oldest,
      139_000,
      "failed: since queued",
    );
  } finally {
    db.close();
  }
});
