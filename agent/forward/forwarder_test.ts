import assert from "node:assert/strict";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { Logger } from "@conduit/shared/log";
import { freePort } from "../../tests/support/processes.ts";
import { skipReason, startStorescp } from "../../tests/support/peers.ts";
import { eventually } from "../../tests/support/hub.ts";
import { loadConfig } from "../config/load.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { indexedDatabase } from "../index/testing.ts";
import { Channel, memoryPair, ObjectHeader, Request, Session, type Stream } from "@conduit/shared/tunnel";
import type { Database } from "../index/db.ts";
import { Queue } from "../queue/queue.ts";
import type { QueueRow } from "../queue/rows.ts";
import { Copies } from "../queue/copies.ts";
import { CANCELED, stageDestination } from "../queue/keys.ts";
import { DeidStage } from "./deid_stage.ts";
import { Forwarder, type ForwardEvent } from "./forwarder.ts";

const quiet = new Logger({}, "error", { write: () => {} });

Deno.test("Forwarder: a node that refuses the association fails its claimed rows in one synced write, each by the policy", async () => {
  // Nothing listens on the node's port: every association is refused.
  const { db, queue, archive, dir, config, rows } = await queuedFor(
    "pacs",
    "r",
    `nodes:\n  pacs: { aet: DOWN, host: 127.0.0.1, port: ${freePort()} }\n`,
    "concurrency: 1, batchSize: 100, maxAttempts: 3, ",
  );
  const ids = (db.statement("SELECT id FROM queue ORDER BY id").all() as { id: number }[]).map((r) => r.id);
  // One row at its last attempt (dead after it), one of a route canceled while it was claimed (dead, canceled).
  db.write(() => {
    db.statement("UPDATE queue SET attempts = 2, state = 'failed' WHERE id = ?").run(ids[1]);
    db.statement(`UPDATE queue SET last_error = '${CANCELED}' WHERE id = ?`).run(ids[2]);
  });
  // What the queue holds, and the synced commits since start, once every claimed row's failure is reported.
  const attempts = attemptsOf(db, rows);
  const forwarder = new Forwarder(config, queue, archive, quiet, attempts.onEvent);
  const started = Date.now();
  try {
    // start() prunes and recovers (synced), then the worker claims (unsynced) and opens the association.
    const result = await attempts.run(forwarder);
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
      result.attempts.map((e) => e.type === "attempt" && e.outcome).sort(),
      ["dead", "failed", "failed", "failed", "failed"],
    );
  } finally {
    await forwarder.stop();
    db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/**
 * Five objects archived, indexed and queued for `destination`, and the configuration `nodes` (none: no nodes)
 * with backoffs of an hour (a failed row is not tried again while the test looks) and `queue`'s other settings.
 */
async function queuedFor(destination: string, route: string, nodes = "", queue = "") {
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
  const yaml = `${nodes}queue: { ${queue}backoffBaseSeconds: 3600, backoffCapSeconds: 7200 }\n`;
  const { config } = loadConfig({ flags: { config: "a.yaml" }, env: {}, readFile: () => yaml });
  return { db, queue: new Queue(db), archive: new FileArchive(dir, false), dir, config, rows: specs.length };
}

/**
 * Counts the attempts a forwarder reports: once `rows` are, the synced commits made since `started()` (after
 * start()'s own), the queue's rows and the attempts, as they were at that moment.
 */
function attemptsOf(db: Database, rows: number) {
  const attempts: ForwardEvent[] = [];
  let before = 0;
  let seen: { synced: number; rows: QueueRow[]; attempts: ForwardEvent[] } | undefined;
  return {
    onEvent: (e: ForwardEvent) => {
      if (e.type !== "attempt") return;
      attempts.push(e);
      if (attempts.length === rows) {
        seen = { synced: db.commits.synced - before, rows: new Queue(db).list(), attempts: [...attempts] };
      }
    },
    /** Starts `forwarder`; resolves with what was seen once every row's attempt was reported. */
    run: (forwarder: Forwarder) => {
      forwarder.start();
      before = db.commits.synced;
      return eventually("every row's attempt reported", () => seen);
    },
  };
}

/**
 * Forwards the five rows queued for site south over a tunnel whose hub side answers each relay with
 * `answer`, then hands `check` what was recorded once every row's attempt was reported.
 */
async function relayedTo(
  answer: (channel: Channel) => Promise<unknown>,
  check: (result: Awaited<ReturnType<ReturnType<typeof attemptsOf>["run"]>>, rows: number) => void,
) {
  const { db, queue, archive, dir, config, rows } = await queuedFor("@south", "r");
  const [a, b] = memoryPair();
  new Session(b, {
    side: "server",
    onStream: (stream: Stream) => void answer(new Channel(stream)).catch(() => {}),
  });
  const session = new Session(a, { side: "client" });
  const attempts = attemptsOf(db, rows);
  const forwarder = new Forwarder(config, queue, archive, quiet, attempts.onEvent, () => session);
  try {
    check(await attempts.run(forwarder), rows);
  } finally {
    await forwarder.stop();
    session.close();
    db.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

Deno.test("Forwarder: the relays the hub refuses in a batch are recorded in one synced write, not one each", async () => {
  // The hub's side of the tunnel: every relay is refused (the destination site is offline).
  await relayedTo(async (channel) => {
    await channel.expect(Request);
    await channel.send({ type: "error", code: "site-offline", message: "site south is offline" });
    await channel.end();
  }, (result, rows) => {
    assert.equal(result.synced, 1, "the batch's failed relays are one synced transaction");
    assert.deepEqual(
      result.rows.map((r) => [r.state, r.attempts, r.lastError]),
      Array(rows).fill(["failed", 1, "site south is offline"]),
    );
    assert.deepEqual(
      result.attempts.map((e) => e.type === "attempt" && e.outcome),
      Array(rows).fill("failed"),
    );
  });
});

Deno.test("Forwarder: a relay the destination refuses with a DIMSE status is classified by it (0x0122 dead at once, 0xA700 tried again)", async () => {
  // The destination's answer through the hub: a nack with the status its port or node gave, by object.
  const refusals = new Map<string, number>();
  await relayedTo(async (channel) => {
    await channel.expect(Request);
    const header = await channel.expect(ObjectHeader);
    const status = refusals.size % 2 === 0 ? 0x0122 : 0xa700;
    refusals.set(header.sopInstanceUid, status);
    await channel.send({ type: "nack", sopInstanceUid: header.sopInstanceUid, message: "refused", status });
    while (await channel.stream.read()) { /* the rest of the object, dropped */ }
    await channel.end();
  }, (result, rows) => {
    assert.equal(refusals.size, rows);
    for (const row of result.rows) {
      const status = refusals.get(row.sopInstanceUid);
      assert.equal(row.lastStatus, status, "the destination's status is recorded");
      assert.deepEqual(
        [row.state, row.attempts],
        status === 0x0122 ? ["dead", 1] : ["failed", 1],
        `0x${status?.toString(16)}: ${status === 0x0122 ? "permanent, dead letter at once" : "tried again"}`,
      );
    }
  });
});

Deno.test("Forwarder: the stage rows that fail de-identification in a batch are recorded in one synced write", async () => {
  const { db, queue, archive, dir, config, rows } = await queuedFor(stageDestination("r"), "r");
  // The route has no settings here (a transfer's that this agent no longer knows): each row fails, for good.
  const stage = new DeidStage(new Copies(db), archive, quiet, () => "no de-identification settings for r");
  const attempts = attemptsOf(db, rows);
  const forwarder = new Forwarder(config, queue, archive, quiet, attempts.onEvent, undefined, stage);
  try {
    const result = await attempts.run(forwarder);
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

const noStorescp = skipReason("storescp");

Deno.test({
  name: "Forwarder: the C-STOREs a node refuses in a batch are recorded in one synced write, not one each",
  ignore: !!noStorescp,
  fn: async () => {
    // A real storescp whose output directory is gone: it answers every C-STORE 0xA700 (cannot write the file).
    const out = await Deno.makeTempDir({ prefix: "forwarder-scp-" });
    const scp = await startStorescp({ dir: out });
    await Deno.remove(out, { recursive: true });
    const nodes = `nodes:\n  pacs: { aet: ${scp.aet}, host: 127.0.0.1, port: ${scp.port} }\n`;
    const { db, queue, archive, dir, config, rows } = await queuedFor("pacs", "r", nodes);
    const attempts = attemptsOf(db, rows);
    const forwarder = new Forwarder(config, queue, archive, quiet, attempts.onEvent);
    try {
      const result = await attempts.run(forwarder);
      assert.equal(result.synced, 1, "the batch's refused objects are one synced transaction");
      assert.deepEqual(
        result.rows.map((r) => [r.state, r.attempts, r.lastStatus]),
        Array(rows).fill(["failed", 1, 0xa700]),
      );
    } finally {
      await forwarder.stop();
      await scp.stop();
      db.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
