import assert from "node:assert/strict";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { Logger } from "@conduit/shared/log";
import { freePort } from "../../tests/support/processes.ts";
import { eventually } from "../../tests/support/hub.ts";
import { loadConfig } from "../config/load.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { indexedDatabase } from "../index/testing.ts";
import { Channel, memoryPair, Request, Session, type Stream } from "@conduit/shared/tunnel";
import type { Database } from "../index/db.ts";
import { Queue, type QueueRow } from "../queue/queue.ts";
import { Copies } from "../queue/copies.ts";
import { CANCELED, stageDestination } from "../queue/keys.ts";
import { DeidStage } from "./deid_stage.ts";
import { Forwarder, type ForwardEvent } from "./forwarder.ts";

const quiet = new Logger({}, "error", { write: () => {} });

Deno.test("Forwarder: a node that refuses the association fails its claimed rows in one synced write, each by the policy", async () => {
  const specs = [...generateStudies({
    seed: "down",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 5 }],
    rows: 4,
    columns: 4,
  })];
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(spec.sopInstanceUid, [{ route: "r", destination: "pacs" }], 1000);
  });
  const dir = await Deno.makeTempDir({ prefix: "forwarder-test-" });
  const archive = new FileArchive(dir, false);
  // Nothing listens on the node's port: every association is refused.
  const yaml = `nodes:\n  pacs: { aet: DOWN, host: 127.0.0.1, port: ${freePort()} }\n` +
    "queue: { concurrency: 1, batchSize: 100, maxAttempts: 3, backoffBaseSeconds: 3600, " +
    "backoffCapSeconds: 7200 }\n";
  const { config } = loadConfig({ flags: { config: "a.yaml" }, env: {}, readFile: () => yaml });
  const ids = (db.statement("SELECT id FROM queue ORDER BY id").all() as { id: number }[]).map((r) => r.id);
  // One row at its last attempt (dead after it), one of a route canceled while it was claimed (dead, canceled).
  db.write(() => {
    db.statement("UPDATE queue SET attempts = 2, state = 'failed' WHERE id = ?").run(ids[1]);
    db.statement(`UPDATE queue SET last_error = '${CANCELED}' WHERE id = ?`).run(ids[2]);
  });
  const queue = new Queue(db);
  // What the queue holds, and the synced commits since start, once every claimed row's failure is reported.
  let seen: { synced: number; rows: QueueRow[] } | undefined;
  const attempts: ForwardEvent[] = [];
  let before = 0;
  const forwarder = new Forwarder(config, queue, archive, quiet, (e) => {
    if (e.type !== "attempt") return;
    attempts.push(e);
    if (attempts.length === ids.length) seen = { synced: db.commits.synced - before, rows: queue.list() };
  });
  const started = Date.now();
  try {
    // start() prunes and recovers (synced), then the worker claims (unsynced) and opens the association.
    forwarder.start();
    before = db.commits.synced;
    const result = await eventually("the failed association's rows recorded", () => seen);
    assert.equal(result.synced, 1, "the batch's failures are one synced transaction");
    const byId = new Map(result.rows.map((r) => [r.id, r]));
    for (const id of ids) {
      const row = byId.get(id)!;
      assert.equal(row.lastStatus, null);
      if (id === ids[1]) {
        assert.deepEqual([row.state, row.attempts], ["dead", 3], "out of attempts: dead letter");
        assert.match(row.lastError, /./);
      } else if (id === ids[2]) {
        assert.deepEqual(
          [row.state, row.lastError, row.attempts],
          ["dead", CANCELED, 1],
          "canceled stays dead",
        );
      } else {
        assert.deepEqual([row.state, row.attempts], ["failed", 1]);
        assert.ok(row.lastError.length > 0 && row.lastError !== CANCELED);
        assert.ok(row.nextAttemptAt >= started && row.nextAttemptAt <= Date.now() + 3_600_000, "backoff");
      }
    }
    // The metrics hear the policy's outcome (a canceled row's attempt counts as failed, as before).
    assert.deepEqual(
      attempts.map((e) => e.type === "attempt" && e.outcome).sort(),
      ["dead", "failed", "failed", "failed", "failed"],
    );
  } finally {
    await forwarder.stop();
    db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** Five objects archived, indexed and queued for `destination`, and a configuration without nodes. */
async function queuedFor(destination: string, route: string) {
  const specs = [...generateStudies({
    seed: "batch",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 5 }],
    rows: 4,
    columns: 4,
  })];
  const db = await indexedDatabase(specs, (spec, db) => {
    new Queue(db).addInTransaction(spec.sopInstanceUid, [{ route, destination }], 1000);
  });
  const dir = await Deno.makeTempDir({ prefix: "forwarder-test-" });
  // Where indexedDatabase() indexed them.
  await Deno.mkdir(`${dir}/archive`);
  for (const spec of specs) {
    await Deno.writeFile(`${dir}/archive/${spec.sopInstanceUid}.dcm`, generateInstance(spec));
  }
  const { config } = loadConfig({ flags: { config: "a.yaml" }, env: {}, readFile: () => "" });
  return { db, queue: new Queue(db), archive: new FileArchive(dir, false), dir, config, rows: specs.length };
}

/**
 * Starts `forwarder` and waits until `rows` attempts are reported: the synced commits made meanwhile (after
 * start()'s own), and the queue's rows then.
 */
async function attemptsOf(forwarder: Forwarder, db: Database, events: ForwardEvent[], rows: number) {
  forwarder.start();
  const before = db.commits.synced;
  await eventually("every row's attempt reported", () => events.length >= rows);
  return { synced: db.commits.synced - before, rows: new Queue(db).list() };
}

Deno.test("Forwarder: the relays the hub refuses in a batch are recorded in one synced write, not one each", async () => {
  const { db, queue, archive, dir, config, rows } = await queuedFor("@south", "r");
  // The hub's side of the tunnel: every relay is refused (the destination site is offline).
  const [a, b] = memoryPair();
  new Session(b, {
    side: "server",
    onStream: (stream: Stream) => {
      const channel = new Channel(stream);
      channel.expect(Request).then(() =>
        channel.send({ type: "error", code: "site-offline", message: "site south is offline" })
      ).then(() => channel.end()).catch(() => {});
    },
  });
  const session = new Session(a, { side: "client" });
  const events: ForwardEvent[] = [];
  const forwarder = new Forwarder(config, queue, archive, quiet, (e) => {
    if (e.type === "attempt") events.push(e);
  }, () => session);
  try {
    const result = await attemptsOf(forwarder, db, events, rows);
    assert.equal(result.synced, 1, "the batch's failed relays are one synced transaction");
    assert.deepEqual(
      result.rows.map((r) => [r.state, r.attempts, r.lastError]),
      Array(rows).fill(["failed", 1, "site south is offline"]),
    );
    assert.deepEqual(events.map((e) => e.type === "attempt" && e.outcome), Array(rows).fill("failed"));
  } finally {
    await forwarder.stop();
    session.close();
    db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("Forwarder: the stage rows that fail de-identification in a batch are recorded in one synced write", async () => {
  const { db, queue, archive, dir, config, rows } = await queuedFor(stageDestination("r"), "r");
  // The route has no settings here (a transfer's that this agent no longer knows): each row fails, for good.
  const stage = new DeidStage(new Copies(db), archive, quiet, () => "no de-identification settings for r");
  const events: ForwardEvent[] = [];
  const forwarder = new Forwarder(
    config,
    queue,
    archive,
    quiet,
    (e) => {
      if (e.type === "attempt") events.push(e);
    },
    undefined,
    stage,
  );
  try {
    const result = await attemptsOf(forwarder, db, events, rows);
    assert.equal(result.synced, 1, "the batch's failures are one synced transaction");
    assert.deepEqual(
      result.rows.map((r) => [r.state, r.attempts, r.lastError]),
      Array(rows).fill(["dead", 1, "no de-identification settings for r"]),
    );
  } finally {
    await forwarder.stop();
    db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
