import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { generateInstance, generateStudies, type InstanceSpec } from "@conduit/shared/testing";
import { readPart10Header } from "@conduit/shared/dicom";
import { pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { Logger } from "@conduit/shared/log";
import { type Archive, objectKey } from "../archive/archive.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { readUpTo } from "../part10/source.ts";
import { Database } from "../index/db.ts";
import { indexInstance } from "../index/instances.ts";
import { indexEntryOf } from "../index/testing.ts";
import { Queue } from "../queue/queue.ts";
import { Copies } from "../queue/copies.ts";
import { standardProfile } from "../deid/profile.ts";
import { stageDestination } from "../queue/keys.ts";
import { DeidStage, type StageSettings } from "./deid_stage.ts";

/** Places `bytes` in the archive at `key`, as a receive would. */
async function put(archive: Archive, key: string, bytes: Uint8Array | string) {
  const staged = archive.staging();
  fs.writeFileSync(staged, bytes);
  await archive.place(staged, key);
}

/** The bytes of the object at `key`. */
async function get(archive: Archive, key: string): Promise<Uint8Array> {
  const source = await archive.open(key);
  try {
    return await readUpTo(source, 0, source.size);
  } finally {
    await source.close();
  }
}

const KEY = new TextEncoder().encode("stage test key, 32 bytes long...");
const quiet = new Logger({}, "error", { write: () => {} });

/** A data directory with `n` generated CT objects archived, indexed and queued for the stage of route r. */
async function staged(n: number) {
  const dir = await Deno.makeTempDir({ prefix: "deid-stage-" });
  const archive = new FileArchive(dir, false);
  await archive.prepare();
  const db = await Database.open(path.join(dir, "agent.db"), { durable: false });
  const queue = new Queue(db);
  const specs: InstanceSpec[] = [...generateStudies({
    seed: "stage",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: n }],
    rows: 16,
    columns: 16,
  })];
  for (const spec of specs) {
    const bytes = generateInstance(spec);
    const relative = objectKey(spec.studyInstanceUid, spec.seriesInstanceUid, spec.sopInstanceUid);
    await put(archive, relative, bytes);
    const { attrs, file } = indexEntryOf(bytes, relative);
    indexInstance(
      db,
      attrs,
      file,
      () => queue.addInTransaction(spec.sopInstanceUid, [{ route: "r", destination: stageDestination("r") }]),
    );
  }
  const copies = new Copies(db);
  const settings: StageSettings = {
    profile: standardProfile(),
    key: KEY,
    allowBurnedIn: false,
    destinations: ["a", "b"],
  };
  const stage = new DeidStage(copies, archive, quiet, () => settings);
  return { dir, archive, db, queue, copies, stage, specs };
}

Deno.test("DeidStage.run() records the copy and queues it for every destination in one step", async () => {
  const { archive, db, queue, copies, stage, specs } = await staged(3);
  try {
    const rows = queue.claim(stageDestination("r"), 10);
    assert.equal(rows.length, 3);
    assert.deepEqual(queue.routeProgress("r"), {
      pending: 0,
      inFlight: 3,
      failed: 0,
      done: 0,
      dead: 0,
      canceled: 0,
      held: 0,
    });
    for (const row of rows) {
      assert.deepEqual(await stage.run(row), { outcome: "done", destinations: ["a", "b"] });
    }
    // The stage rows are done and no longer counted: their copies' rows are, once per destination.
    assert.equal(queue.routeProgress("r").pending, 6);
    assert.equal(queue.routeRows("r").length, 6);
    const claimed = queue.claim("a", 10);
    assert.equal(claimed.length, 3);
    const originals = new Set(specs.map((s) => s.sopInstanceUid));
    for (const c of claimed) {
      assert.ok(!originals.has(c.sopInstanceUid), "the row names the copy, not the original");
      assert.match(c.sopInstanceUid, /^2\.25\.\d+$/);
      assert.ok(c.key.startsWith("deid/"), c.key);
      const bytes = await get(archive, c.key);
      assert.equal(readPart10Header(bytes).sopInstanceUid, c.sopInstanceUid);
      assert.equal(bytes.length - c.datasetOffset, c.datasetSize);
    }
    const expected = new Set(specs.map((s) => pseudonymizeUid(KEY, s.sopInstanceUid)));
    assert.deepEqual(new Set(claimed.map((c) => c.sopInstanceUid)), expected);
    assert.equal(copies.identifiers("r")!.studyInstanceUid, pseudonymizeUid(KEY, specs[0].studyInstanceUid));

    // Forwarded everywhere: the sweep removes the copies' files, and only then.
    for (const c of claimed) queue.markDone(c.id);
    assert.equal(await stage.sweep(), 0, "b has not had them yet");
    for (const c of queue.claim("b", 10)) queue.markDone(c.id);
    assert.equal(await stage.sweep(), 3);
    for (const c of claimed) assert.equal(await archive.stat(c.key), undefined);
  } finally {
    db.close();
  }
});

Deno.test("DeidStage: a copy redone after a crash is the same bytes; a stray copy is removed at start", async () => {
  const { archive, db, queue, stage } = await staged(1);
  try {
    const [row] = queue.claim(stageDestination("r"), 10);
    assert.equal((await stage.run(row)).outcome, "done");
    const [first] = queue.claim("a", 1);
    const bytes = await get(archive, first.key);
    // The crash between placing a copy and recording it: a copy no record names, and the row in flight.
    const stray = "deid/0123456789abcdef/2.25.1.dcm";
    await put(archive, stray, "partial");
    await put(archive, "deid/0123456789abcdef/2.25.2.dcm", "partial");
    assert.equal(await stage.reconcile(), 2);
    assert.equal(await archive.stat(stray), undefined);
    assert.ok(await archive.stat(first.key), "a recorded copy stays");
    // The same object de-identified again (its row reset, as a replacement does) gives the same bytes.
    queue.addInTransaction(row.sopInstanceUid, [{ route: "r", destination: stageDestination("r") }]);
    const [again] = queue.claim(stageDestination("r"), 10);
    assert.equal((await stage.run(again)).outcome, "done");
    assert.ok(Buffer.from(await get(archive, first.key)).equals(Buffer.from(bytes)));
    // A transfer canceled while one of its rows was worked on: that row is canceled too, nothing queued.
    const t = "transfer:t1";
    queue.addInTransaction(row.sopInstanceUid, [{ route: t, destination: stageDestination(t) }]);
    queue.addInTransaction("1.2.3.4", [{ route: t, destination: stageDestination(t) }]);
    const [working] = queue.claim(stageDestination(t), 1);
    assert.equal(queue.cancelRoute(t), 1, "the other row, not yet claimed");
    assert.deepEqual(await stage.run(working), { outcome: "stale" });
    assert.deepEqual(queue.routeProgress(t), {
      pending: 0,
      inFlight: 0,
      failed: 0,
      done: 0,
      dead: 0,
      canceled: 2,
      held: 0,
    });
    // The same when the row worked on was the transfer's last one waiting.
    const t2 = "transfer:t2";
    queue.addInTransaction(row.sopInstanceUid, [{ route: t2, destination: stageDestination(t2) }]);
    const [last] = queue.claim(stageDestination(t2), 1);
    assert.equal(queue.cancelRoute(t2), 0, "nothing waiting: the row in flight is only marked");
    assert.deepEqual(await stage.run(last), { outcome: "stale" });
    assert.equal(queue.routeProgress(t2).canceled, 1);
    // A row canceled while it was worked on records nothing.
    queue.addInTransaction(row.sopInstanceUid, [{ route: "r", destination: stageDestination("r") }]);
    const [late] = queue.claim(stageDestination("r"), 10);
    db.write(() =>
      db.statement("UPDATE queue SET state = 'dead', last_error = 'canceled' WHERE id = ?").run(late.id)
    );
    assert.deepEqual(await stage.run(late), { outcome: "stale" });
  } finally {
    db.close();
  }
});

Deno.test("DeidStage.run() fails permanently, with the reason, when the route cannot be de-identified", async () => {
  const { archive, db, queue, copies } = await staged(1);
  try {
    const stage = new DeidStage(copies, archive, quiet, () => "this site has no de-identification key");
    const [row] = queue.claim(stageDestination("r"), 10);
    assert.deepEqual(await stage.run(row), {
      outcome: "failed",
      reason: "this site has no de-identification key",
      permanent: true,
    });
  } finally {
    db.close();
  }
});

Deno.test("DeidStage.run() fails permanently when the object's own bytes cannot be de-identified", async () => {
  const { archive, db, queue, stage } = await staged(1);
  try {
    const [row] = queue.claim(stageDestination("r"), 10);
    // Cut inside the pixel data (a modality's wrong length): the same object fails the same way every time.
    const whole = await get(archive, row.key);
    await archive.remove(row.key);
    await put(archive, row.key, whole.subarray(0, whole.length - 100));
    assert.deepEqual(await stage.run(row), {
      outcome: "failed",
      reason: "de-identification failed: not a readable DICOM file: file ends inside the pixel data",
      permanent: true,
    });
  } finally {
    db.close();
  }
});

Deno.test("DeidStage.sweep() keeps a copy made again (and queued again) while the sweep was under way", async () => {
  const { archive, db, queue, copies, stage, specs } = await staged(2);
  try {
    const rows = queue.claim(stageDestination("r"), 10);
    for (const row of rows) assert.equal((await stage.run(row)).outcome, "done");
    for (const d of ["a", "b"]) for (const c of queue.claim(d, 10)) queue.markDone(c.id);
    const keyOf = (sop: string) =>
      (db.statement("SELECT path FROM deid_copies WHERE source_sop_instance_uid = ?").get(sop) as {
        path: string;
      }).path;
    // While the sweep removes the first copy's file, the other object is de-identified again (its stage
    // row reset, as a keepLast replacement does): its copy is queued again for a and b.
    let redone: string | undefined;
    const racing = new Proxy(archive, {
      get(target, prop, receiver) {
        if (prop === "remove") {
          return async (key: string) => {
            if (!redone) {
              redone = specs.map((s) => s.sopInstanceUid).find((sop) => keyOf(sop) !== key)!;
              queue.addInTransaction(redone, [{ route: "r", destination: stageDestination("r") }]);
              const [again] = queue.claim(stageDestination("r"), 10);
              assert.equal((await stage.run(again)).outcome, "done");
            }
            return await target.remove(key);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Archive;
    assert.equal(await new DeidStage(copies, racing, quiet, () => ({} as StageSettings)).sweep(), 1);
    const [pending] = queue.claim("a", 10);
    assert.ok(pending, "the copy made again is sent to a");
    assert.ok(await archive.stat(pending.key), "from its file");
    assert.equal(pending.key, keyOf(redone!));
  } finally {
    db.close();
  }
});
