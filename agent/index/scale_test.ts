/**
 * The index at a busy site's scale (tests/support/big_index.ts fills it; a year there is 3 million instances
 * and 6 million done queue rows): what runs at every heartbeat, /metrics scrape, idle forwarder pass,
 * retention sweep and start finds its rows through an index or a counter, asked of SQLite's planner (the
 * plans do not depend on the number of rows, so a small fill shows them); the counters the triggers of
 * migration 0011 keep match a count of the rows after every kind of change; the summary says what the
 * count over the whole table said.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { BIG_ROUTES, bigStudy, fillBigIndex } from "../../tests/support/big_index.ts";
import type { Archive } from "../archive/archive.ts";
import { Retention } from "../forward/retention.ts";
import { reconcileAfterCrash } from "../ingest/recover.ts";
import { IndexQueryHandler } from "../query/find.ts";
import { Queue } from "../queue/queue.ts";
import { Copies } from "../queue/copies.ts";
import { ABANDONED, CANCELED, stageDestination } from "../queue/keys.ts";
import { plansOf } from "../../tests/support/query_plans.ts";
import { Database, migrationTag } from "./db.ts";
import { archiveTotals } from "./totals.ts";

const quiet = new Logger({}, "error", { write: () => {} });
/** Retention's file removal: the filled index has no files. */
const noFiles = { remove: () => Promise.resolve() } as unknown as Archive;

async function bigDb(scale = 0.002): Promise<{ db: Database; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "scale-test-" });
  const db = await Database.open(path.join(dir, "agent.db"), { durable: false });
  fillBigIndex(db, { scale });
  return { db, dir };
}

/** A whole-table walk of the queue or the instances (a SEARCH, or a SCAN of a small table, is fine). */
const FULL_SCAN = /^SCAN (queue|q|instances|i)\b/m;

Deno.test("the queue's and retention's frequent queries use an index or a counter, never walk every row", async () => {
  const { db, dir } = await bigDb();
  const queue = new Queue(db);
  const now = Date.now();
  const cases: [what: string, fn: () => unknown, uses: RegExp][] = [
    ["summary (heartbeat, /metrics)", () => queue.summary(now), /queue_state \(state=\?\)/],
    [
      "nextDue (a forwarder after each batch, idle every second)",
      () => queue.nextDue(BIG_ROUTES[0].destination),
      /queue_due \(destination=\? AND state=\?\)/,
    ],
    [
      "claim with nothing due (a forwarder after each batch)",
      () => queue.claim(BIG_ROUTES[0].destination, 100, 0),
      /queue_due \(destination=\? AND state=\? AND next_attempt_at<\?\)/,
    ],
    ["waitingDestinations (start)", () => queue.waitingDestinations(), /queue_state/],
    [
      "dueCommitmentDestinations (commitment sweep)",
      () => queue.dueCommitmentDestinations(now),
      /queue_state/,
    ],
    ["recover (start)", () => queue.recover(now), /queue_state \(state=\?\)/],
    [
      "pruneDone (start, hourly)",
      () => queue.pruneDone(0),
      /queue_state \(state=\? AND destination=\? AND done_at<\?\)/,
    ],
    ["list of dead rows", () => queue.list({ state: "dead" }), /queue_state \(state=\?\)/],
    [
      "retention by size",
      () => new Retention(db, noFiles, { maxBytes: 1e18 }, quiet).sweep(now),
      /archive_totals/,
    ],
    ["/healthz (archive size)", () => archiveTotals(db), /archive_totals/],
    // Not a walk of the route's 3 million done rows (queue_route, before migration 0014): those are counted, and
    // its rows not yet done are grouped in the order of an index (no sort of millions waiting).
    [
      "routeProgress (a transfer's progress)",
      () => queue.routeProgress(BIG_ROUTES[0].route),
      /COVERING INDEX queue_route_state \(route=\? AND state=\?\)\nUNION ALL\nSEARCH queue_route_done_counts /,
    ],
    [
      "start after a crash (newest object)",
      () => reconcileAfterCrash(db, { list: async function* () {} } as unknown as Archive, dir),
      /instances_live_received/,
    ],
  ];
  try {
    for (const [what, fn, uses] of cases) {
      const plans = (await plansOf(db, fn)).map((s) => s.plan);
      assert.ok(plans.length > 0, what);
      for (const plan of plans) assert.doesNotMatch(plan, FULL_SCAN, `${what}:\n${plan}`);
      assert.match(plans.join("\n"), uses, `${what}:\n${plans.join("\n---\n")}`);
    }
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a forward worker's claim walks its destination's due rows in index order and stops at its batch", async () => {
  const { db, dir } = await bigDb();
  const queue = new Queue(db);
  try {
    for (const { destination } of BIG_ROUTES) {
      const plans = (await plansOf(db, () => queue.claim(destination, 5, 0))).map((p) => p.plan);
      const all = plans.join("\n---\n");
      assert.match(all, /queue_due \(destination=\? AND state=\? AND next_attempt_at<\?\)/, all);
      // Before (qa93): `state IN ('pending', 'failed')` sorted every due row of the destination for each
      // claim of 100, so the sender of a study of 20 000 objects sorted what was left of it 200 times.
      assert.doesNotMatch(all, /TEMP B-TREE/, all);
    }
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a de-identified copy's completion looks for its route's cancel in an index, not through the route's rows", async () => {
  const { db, dir } = await bigDb();
  const queue = new Queue(db);
  const [pacs] = BIG_ROUTES;
  try {
    // A stage row of the route (3 000 rows at this scale, 3 million in a year), claimed by its worker.
    const [{ sop }] = db.statement("SELECT sop_instance_uid AS sop FROM instances LIMIT 1").all();
    db.write(() =>
      queue.addInTransaction(String(sop), [{ route: pacs.route, destination: stageDestination(pacs.route) }])
    );
    const [row] = queue.claim(stageDestination(pacs.route), 1);
    const copy = {
      route: pacs.route,
      sourceSopInstanceUid: String(sop),
      sopInstanceUid: "2.25.1",
      sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
      transferSyntaxUid: "1.2.840.10008.1.2.1",
      path: "deid/x/2.25.1.dcm",
      fileSize: 100,
      datasetOffset: 0,
      datasetSize: 100,
      sha256: "ab".repeat(32),
      patientId: "P",
      patientName: "P",
      studyInstanceUid: "2.25.2",
      seriesInstanceUid: "2.25.3",
    };
    let queued = false;
    const plans = (await plansOf(db, () =>
      queued = new Copies(db).complete(row.id, copy, [pacs.destination])))
      .map((p) => p.plan);
    assert.ok(queued, "not canceled: the copy is queued");
    const all = plans.join("\n---\n");
    assert.match(all, /queue_route_state \(route=\? AND state=\? AND last_error=\?\)/, all);
    // Before: SEARCH queue USING INDEX queue_route (route=?), every row of the route.
    assert.doesNotMatch(all, /queue_route(_state)? \(route=\?\)$/m, all);
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Undoes migration 0017 (each study's own patient attributes, age and institution), for a test that runs the migrations after 0010 again. */
function undoStudyPatient(db: Database): void {
  db.statement("DROP INDEX studies_patient_name_folded").run();
  for (const c of ["patient_name", "patient_birth_date", "patient_sex", "patient_age", "institution_name"]) {
    db.statement(`ALTER TABLE studies DROP COLUMN ${c}`).run();
  }
}

/** What the summary counted over the whole queue before migration 0011, sorted as it sorts. */
function countedSummary(db: Database, now: number) {
  const rows = db.statement(`SELECT destination, CASE
      WHEN state = 'dead' AND last_error = '${CANCELED}' THEN 'canceled'
      WHEN state = 'dead' AND last_error = '${ABANDONED}' THEN 'abandoned'
      ELSE state END AS state, created_at AS createdAt, next_attempt_at AS nextAttemptAt
    FROM queue ORDER BY 1, 2`).all() as {
    destination: string;
    state: string;
    createdAt: number;
    nextAttemptAt: number;
  }[];
  const groups = new Map<string, { destination: string; state: string; count: number; oldest: number }>();
  for (const r of rows) {
    const key = `${r.destination}\u0000${r.state}`;
    const g = groups.get(key) ?? { destination: r.destination, state: r.state, count: 0, oldest: Infinity };
    g.count++;
    // A pending row waits from when it became due (one held for a window is not late before it).
    const since = r.state !== "pending"
      ? r.createdAt
      : r.nextAttemptAt <= now
      ? Math.max(r.createdAt, r.nextAttemptAt)
      : Infinity;
    g.oldest = Math.min(g.oldest, since);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({ ...g, oldest: g.oldest === Infinity ? 0 : now - g.oldest }));
}

/** What a route's progress counted over the route's rows before migration 0014 (no last error). */
function countedProgress(db: Database, route: string) {
  const p: Record<string, number> = {
    pending: 0,
    inFlight: 0,
    failed: 0,
    done: 0,
    dead: 0,
    canceled: 0,
    held: 0,
  };
  for (
    const r of db.statement(
      `SELECT state, last_error = '${CANCELED}' AS canceled, last_error LIKE 'held back: %' AS held,
      count(*) AS n FROM queue q WHERE route = ? AND NOT (q.destination LIKE 'deid:%' AND state = 'done')
      GROUP BY 1, 2, 3`,
    ).all(route)
  ) {
    const key = r.state === "in_flight" || r.state === "committing"
      ? "inFlight"
      : r.state === "dead" && r.canceled
      ? "canceled"
      : r.state === "dead" && r.held
      ? "held"
      : String(r.state);
    p[key] += Number(r.n);
  }
  return p;
}

/**
 * The counters the triggers keep, and the same counted over the rows. A route's counter goes with its last
 * done row (migration 0015): every row of queue_route_done_counts is compared, none left at 0.
 */
function counters(db: Database) {
  const kept = db.statement("SELECT destination, count FROM queue_done_counts WHERE count <> 0 ORDER BY 1")
    .all();
  const counted = db.statement(
    "SELECT destination, count(*) AS count FROM queue WHERE state = 'done' GROUP BY 1 ORDER BY 1",
  ).all();
  const keptByRoute = db.statement("SELECT route, count FROM queue_route_done_counts ORDER BY 1").all();
  const countedByRoute = db.statement(`SELECT route, count(*) AS count FROM queue
    WHERE state = 'done' AND destination NOT LIKE 'deid:%' GROUP BY 1 ORDER BY 1`).all();
  const totals = db.statement("SELECT objects, bytes FROM archive_totals").all();
  const summed = db.statement(`SELECT count(*) AS objects, coalesce(sum(file_size), 0) AS bytes FROM instances
    WHERE removed_at IS NULL AND path <> ''`).all();
  return {
    kept: { done: kept, route: keptByRoute, archive: totals },
    counted: { done: counted, route: countedByRoute, archive: summed },
  };
}

Deno.test("the summary and the counters of migration 0011 follow every change to the queue and the archive", async () => {
  const { db, dir } = await bigDb();
  const queue = new Queue(db);
  try {
    const check = (step: string) => {
      const { kept, counted } = counters(db);
      assert.deepEqual(kept, counted, step);
      const now = Date.now();
      assert.deepEqual(queue.summary(now), countedSummary(db, now), step);
      for (const route of [...BIG_ROUTES.map((r) => r.route), "elsewhere"]) {
        const { lastError: _, ...progress } = queue.routeProgress(route);
        assert.deepEqual(progress, countedProgress(db, route), `${step}: ${route}`);
      }
    };
    check("filled");
    const [pacs, research] = BIG_ROUTES;
    // Waiting rows claimed, delivered, failed; a route canceled; rows abandoned and replayed.
    const claimed = queue.claim(pacs.destination, 3);
    assert.equal(claimed.length, 3);
    queue.markDone(claimed[0].id);
    queue.markFailed(claimed[1].id, { status: 0xa700, error: "out of resources", dead: true, next: 0 });
    check("claimed, done, dead");
    queue.abandon({ destination: research.destination });
    queue.cancelRoute(pacs.route);
    check("abandoned, canceled");
    queue.replay({ destination: pacs.destination });
    check("replayed");
    // An object received again: its done rows are queued again (done count down).
    const [sop] = db.statement("SELECT sop_instance_uid FROM queue WHERE state = 'done' LIMIT 1").all();
    db.write(() => queue.addInTransaction(String(sop.sop_instance_uid), BIG_ROUTES));
    check("resent");
    // A de-identification stage's rows (not counted once done: their copies' rows are), delivered, one
    // moved to a real destination and one from it; a row moved to another route.
    const [stage, other] = db.statement(
      "SELECT sop_instance_uid FROM queue WHERE state = 'done' LIMIT 2 OFFSET 10",
    )
      .all().map((r) => String(r.sop_instance_uid));
    db.write(() => {
      for (const s of [stage, other]) {
        queue.addInTransaction(s, [{ route: "elsewhere", destination: "deid:elsewhere" }]);
      }
    });
    queue.markDone(queue.claim("deid:elsewhere", 2).map((r) => r.id));
    check("stage rows done");
    db.write(() => {
      db.statement(
        "UPDATE queue SET destination = 'research' WHERE destination = 'deid:elsewhere' AND sop_instance_uid = ?",
      )
        .run(stage);
      db.statement("UPDATE queue SET destination = 'deid:to-pacs' WHERE id = 9").run();
      db.statement("UPDATE queue SET route = 'elsewhere' WHERE id = 8").run();
    });
    check("stage rows moved, a row to another route");
    // A row moved to another destination by hand, and done rows pruned.
    db.write(() => db.statement("UPDATE queue SET destination = 'elsewhere' WHERE id = 7").run());
    assert.ok(queue.pruneDone(Date.now() - 200 * 86_400_000, 500) > 0);
    check("moved, pruned");
    assert.ok(queue.pruneDone(Date.now() + 86_400_000, 1_000_000) > 0);
    check("every done row pruned");

    // Objects tombstoned by retention, one replaced (new path and size), one erased.
    assert.ok(await new Retention(db, noFiles, { afterDays: 300 }, quiet).sweep(Date.now(), 100) > 0);
    db.write(() => {
      db.statement("UPDATE instances SET path = 'archive/new.dcm', file_size = 7 WHERE rowid = 300").run();
      db.statement("DELETE FROM instances WHERE rowid IN (301, 1)").run();
    });
    check("tombstoned, replaced, erased");
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an index of the schema before migration 0011, rows and all, gets counters that match its rows, and studies their patient values", async () => {
  const { db, dir } = await bigDb();
  const file = path.join(dir, "agent.db");
  try {
    // Back to the schema of 0010 (what an agent of before left: what 0011 to 0014 made undone), its rows
    // kept; some delivered since.
    new Queue(db).markDone(new Queue(db).claim(BIG_ROUTES[0].destination, 2).map((r) => r.id));
    db.write(() => {
      for (const t of ["queue_done_insert", "queue_done_delete", "queue_done_update"]) {
        db.statement(`DROP TRIGGER ${t}`).run();
      }
      for (const t of ["archive_totals_insert", "archive_totals_delete", "archive_totals_update"]) {
        db.statement(`DROP TRIGGER ${t}`).run();
      }
      db.statement("DROP TABLE queue_done_counts").run();
      db.statement("DROP TABLE archive_totals").run();
      db.statement("DROP INDEX queue_state").run();
      db.statement("DROP INDEX patients_name_folded").run();
      db.statement("DROP TABLE queue_discarded").run();
      for (const t of ["queue_route_done_insert", "queue_route_done_delete", "queue_route_done_update"]) {
        db.statement(`DROP TRIGGER ${t}`).run();
      }
      db.statement("DROP TABLE queue_route_done_counts").run();
      db.statement("DROP INDEX queue_route_state").run();
      undoStudyPatient(db);
      for (const { at } of db.statement(`SELECT created_at AS at FROM "__drizzle_migrations"`).all()) {
        if (migrationTag(Number(at))! >= "0011") {
          db.statement(`DELETE FROM "__drizzle_migrations" WHERE created_at = ?`).run(at);
        }
      }
      db.statement("UPDATE instances SET removed_at = 1, path = '' WHERE rowid <= 50").run();
    });
  } finally {
    db.close();
  }
  const upgraded = await Database.open(file, { durable: false });
  try {
    const { kept, counted } = counters(upgraded);
    // Migration 0017: each study answers the patient row's values it answered before.
    const differ = upgraded.statement(
      `SELECT count(*) AS n FROM studies st JOIN patients p ON p.pk = st.patient_pk
      WHERE st.patient_name <> p.patient_name OR st.patient_birth_date <> p.patient_birth_date
        OR st.patient_sex <> p.patient_sex OR st.patient_name = ''`,
    ).get();
    assert.equal(differ?.n, 0);
    assert.equal(kept.done.length, 2);
    assert.equal(kept.route.length, 2);
    assert.deepEqual(kept, counted);
  } finally {
    upgraded.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a transfer's done counter goes with its route's last done row; migration 0015 drops those left at 0", async () => {
  const { db, dir } = await bigDb();
  const file = path.join(dir, "agent.db");
  const queue = new Queue(db);
  const routes = () =>
    db.statement("SELECT route FROM queue_route_done_counts ORDER BY 1").all().map((r) => r.route);
  try {
    // A transfer's objects delivered, then their done rows pruned: its counter row goes with the last one.
    const transfer = { route: "transfer:t1", destination: "@south" };
    const sops = db.statement("SELECT DISTINCT sop_instance_uid AS sop FROM queue LIMIT 3").all();
    db.write(() => {
      for (const { sop } of sops) queue.addInTransaction(String(sop), [transfer]);
    });
    queue.markDone(queue.claim(transfer.destination, 3).map((r) => r.id), Date.now() - 400 * 86_400_000);
    assert.ok(routes().includes(transfer.route));
    assert.ok(queue.pruneDone(Date.now() - 200 * 86_400_000, 1_000_000) > 0);
    assert.ok(!routes().includes(transfer.route), "no counter left for a transfer whose rows are gone");
    assert.equal(queue.routeProgress(transfer.route).done, 0);
    // An index that 0014's triggers left with counters at 0 (before 0015): they go when it opens.
    db.write(() => {
      db.statement("INSERT INTO queue_route_done_counts (route, count) VALUES ('transfer:old', 0)").run();
      undoStudyPatient(db);
      for (const { at } of db.statement(`SELECT created_at AS at FROM "__drizzle_migrations"`).all()) {
        if (migrationTag(Number(at))! >= "0015") {
          db.statement(`DELETE FROM "__drizzle_migrations" WHERE created_at = ?`).run(at);
        }
      }
    });
  } finally {
    db.close();
  }
  const upgraded = await Database.open(file, { durable: false });
  try {
    assert.equal(
      upgraded.statement("SELECT count(*) AS n FROM queue_route_done_counts WHERE count <= 0").get()?.n,
      0,
    );
    const { kept, counted } = counters(upgraded);
    assert.deepEqual(kept, counted);
  } finally {
    upgraded.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Every match of a C-FIND at `level` in the index, and the plans of the pages it read. */
async function cFind(db: Database, level: string, keys: Record<string, string>, maxResults = 10_000) {
  const finder = new IndexQueryHandler(db, { aet: "TEST", maxResults });
  const model = level === "PATIENT" ? "patient" : "study";
  const matches: Record<string, unknown>[] = [];
  const plans = await plansOf(db, async () => {
    const identifier = { QueryRetrieveLevel: level, ...keys };
    for await (const m of finder.find(model, identifier, new AbortController().signal)) matches.push(m);
  });
  return { matches, plans: plans.map((p) => p.plan) };
}

Deno.test("C-FIND by PatientName, whole or a prefix, is a range of the folded-name index, not a walk of the studies", async () => {
  const scale = 0.002;
  const { db, dir } = await bigDb(scale);
  // What matches, from the generator's names: `*` any run, `?` one character, A-Z without regard to case,
  // trailing empty components ignored.
  const all = Array.from({ length: Math.round(300_000 * scale) }, (_, s) => bigStudy(s));
  const expected = (level: string, pattern: string) => {
    const body = pattern.toUpperCase().replace(/\^+$/, "").replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/[*?]/g, (c) => c === "*" ? ".*" : ".");
    const re = new RegExp(`^${body}\\^*$`);
    const hits = all.filter((st) => re.test(st.patientName));
    return level === "PATIENT" ? new Set(hits.map((h) => h.patientId)).size : hits.length;
  };
  const { patientName } = bigStudy(40);
  const surname = patientName.split("^")[0];
  try {
    for (
      const [level, name] of [
        ["STUDY", patientName],
        ["STUDY", `${patientName}^^`],
        ["STUDY", patientName.toLowerCase()],
        ["STUDY", `${surname}*`],
        ["STUDY", `${surname.slice(0, 3)}?${surname.slice(4)}^*`],
        ["PATIENT", `${surname}*`],
      ] as const
    ) {
      const { matches, plans } = await cFind(db, level, { PatientName: name, PatientID: "" });
      const what = `${level} ${name}:\n${plans.join("\n---\n")}`;
      assert.ok(expected(level, name) >= 1, what);
      assert.equal(matches.length, expected(level, name), what);
      // A study's own copy of the name below the patient level (migration 0017), the patient row's at it.
      assert.match(
        plans.join("\n"),
        level === "PATIENT" ? /patients_name_folded/ : /studies_patient_name_folded/,
        what,
      );
      assert.doesNotMatch(plans.join("\n"), /^SCAN (st|p)\b/m, what);
    }
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a long C-FIND answer is read in pages that grow, not 500 at a time", async () => {
  const { db, dir } = await bigDb(0.01);
  try {
    const { matches, plans } = await cFind(db, "STUDY", { StudyDate: "", StudyInstanceUID: "" });
    assert.equal(matches.length, 3000);
    // 500, 1000, 2000 (the last short): three reads, where pages of 500 took seven.
    assert.equal(plans.length, 3);
    assert.equal(new Set(matches.map((m) => m.StudyInstanceUID)).size, 3000, "each study once");
  } finally {
    db.close();
    await Deno.remove(dir, { recursive: true });
  }
});
