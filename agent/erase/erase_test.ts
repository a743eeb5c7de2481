/**
 * Erasure over a real archive, intake and libsql file: what goes (files, rows, queue rows, kept-aside
 * copies), what stays (the rest of the study, with its counts), and a start after a crash finishing a
 * journal without taking a file a row still points at, and removing thumbnails named before their tag.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { generateInstance } from "@conduit/shared/testing";
import { FileArchive } from "../archive/file_archive.ts";
import { cStoreOf, storeAsWire } from "../ingest/testing.ts";
import { objectTag } from "../render/cache.ts";
import { Eraser, NothingToEraseError } from "./erase.ts";
import { quiet, storedStudy } from "./testing.ts";

Deno.test("erasing a series takes its files and rows and leaves the rest of the study with its counts", async () => {
  const s = await storedStudy("erase-series");
  try {
    const study = s.specs[0].studyInstanceUid;
    const mr = s.specs.find((x) => x.modality === "MR")!.seriesInstanceUid;
    const [claimed] = s.queue.claim("pacs", 1); // one of them is being sent
    // Thumbnails in the site's cache: one of an MR instance (erased with it), one of a CT instance.
    const mrSop = s.specs.find((x) => x.modality === "MR")!.sopInstanceUid;
    const ctSop = s.specs[0].sopInstanceUid;
    const thumb = (sop: string) => `${objectTag(sop)}-${"ab".repeat(32)}.jpg`;
    fs.mkdirSync(path.join(s.dir, "thumbnails"));
    for (const sop of [mrSop, ctSop]) fs.writeFileSync(path.join(s.dir, "thumbnails", thumb(sop)), "jpg");
    const result = await s.eraser.erase({ studyInstanceUid: study, seriesInstanceUid: mr });
    const claimedIsMr = s.specs.find((x) => x.sopInstanceUid === claimed.sopInstanceUid)!.modality === "MR";
    assert.deepEqual(result, {
      instances: 2,
      files: 2,
      bytes: result.bytes,
      series: 1,
      studies: 0,
      patients: 0,
      queueRows: 2,
      inFlight: claimedIsMr ? 1 : 0,
      copies: 0,
      conflicts: 0,
      thumbnails: 1,
    });
    assert.ok(result.bytes > 0);
    // The erased series' thumbnail is gone from the cache; the other series' stays.
    assert.deepEqual(fs.readdirSync(path.join(s.dir, "thumbnails")), [thumb(ctSop)]);
    assert.equal(s.files().length, 3);
    assert.equal(s.count("instances WHERE series_instance_uid = ?", mr), 0);
    assert.equal(s.count("queue"), 3);
    const row = s.db.statement(
      "SELECT num_instances AS i, num_series AS se, modalities_in_study AS m FROM studies WHERE study_instance_uid = ?",
    ).get(study) as { i: number; se: number; m: string };
    assert.deepEqual([row.i, row.se, row.m], [3, 1, "CT"]);
    const patient = s.db.statement(
      "SELECT num_studies AS st, num_series AS se, num_instances AS i FROM patients",
    )
      .get() as { st: number; se: number; i: number };
    assert.deepEqual([patient.st, patient.se, patient.i], [1, 1, 3]);
    // Nothing left of the erasure's journal, nor a folder named by the erased series; the study's stays.
    assert.deepEqual(fs.readdirSync(path.join(s.dir, "erasing")), []);
    assert.deepEqual(fs.readdirSync(path.join(s.dir, "archive", study)), [s.specs[0].seriesInstanceUid]);
  } finally {
    await s.tearDown();
  }
});

Deno.test("erasing a whole study removes its patient; erasing it again finds nothing; a copy sent again is stored anew", async () => {
  const s = await storedStudy("erase-study");
  try {
    const study = s.specs[0].studyInstanceUid;
    const result = await s.eraser.erase({ studyInstanceUid: study });
    assert.equal(result.instances, 5);
    assert.equal(result.files, 5);
    assert.equal(result.series, 2);
    assert.equal(result.studies, 1);
    assert.equal(result.patients, 1);
    assert.equal(s.files().length, 0);
    assert.deepEqual(fs.readdirSync(path.join(s.dir, "archive")), [], "no folder named by its UIDs stays");
    for (const table of ["instances", "series", "studies", "patients", "queue"]) {
      assert.equal(s.count(table), 0);
    }
    await assert.rejects(() => s.eraser.erase({ studyInstanceUid: study }), NothingToEraseError);
    // Sent again after the erasure: a new object, stored, indexed and routed.
    const { dataset, ctx } = await cStoreOf(generateInstance(s.specs[0]));
    assert.equal((await storeAsWire(s.ingest, ctx, dataset)).outcome.status, 0);
    assert.equal(s.count("instances"), 1);
    assert.equal(s.count("queue"), 1);
    assert.equal(s.files().length, 1);
  } finally {
    await s.tearDown();
  }
});

Deno.test("erasing an instance takes the copy kept aside for its conflict and the conflict's record", async () => {
  const s = await storedStudy("erase-conflict", "keepBoth");
  try {
    const spec = s.specs[0];
    const { dataset, ctx } = await cStoreOf(generateInstance(spec));
    const other = dataset.slice();
    other[other.length - 1] ^= 0xff; // other pixel bytes under the same UID: a conflict, kept aside
    assert.equal((await storeAsWire(s.ingest, ctx, other)).outcome.status, 0);
    assert.equal(s.count("conflicts"), 1);
    assert.equal(s.files().length, 6);
    const result = await s.eraser.erase({
      studyInstanceUid: spec.studyInstanceUid,
      seriesInstanceUid: spec.seriesInstanceUid,
      sopInstanceUid: spec.sopInstanceUid,
    });
    assert.equal(result.instances, 1);
    assert.equal(result.files, 1);
    assert.equal(result.conflicts, 1);
    assert.equal(s.count("conflicts"), 0);
    assert.equal(s.files().length, 4);
    assert.ok(!s.files().some((f) => f.includes(spec.sopInstanceUid)));
  } finally {
    await s.tearDown();
  }
});

Deno.test("an erasure's series must be of its study, and its instance of its series", async () => {
  const s = await storedStudy("erase-mismatch");
  try {
    const [ct, mr] = [s.specs[0], s.specs.find((x) => x.modality === "MR")!];
    await assert.rejects(
      () => s.eraser.erase({ studyInstanceUid: "1.2.3", seriesInstanceUid: ct.seriesInstanceUid }),
      NothingToEraseError,
    );
    await assert.rejects(
      () =>
        s.eraser.erase({
          studyInstanceUid: ct.studyInstanceUid,
          seriesInstanceUid: mr.seriesInstanceUid,
          sopInstanceUid: ct.sopInstanceUid,
        }),
      NothingToEraseError,
    );
    assert.equal(s.count("instances"), 5);
  } finally {
    await s.tearDown();
  }
});

Deno.test("a start after a crash finishes an erasure's journal, and keeps a file a row points at", async () => {
  const s = await storedStudy("erase-crash");
  try {
    const [a, b, c] = s.specs;
    const key = (x: typeof a) =>
      `archive/${x.studyInstanceUid}/${x.seriesInstanceUid}/${x.sopInstanceUid}.dcm`;
    // Killed after the index transaction (a's row gone) and before its files moved out; b's row remains
    // (as when the kill came before the transaction): its file must stay.
    s.db.write(() => {
      s.db.statement("DELETE FROM queue WHERE sop_instance_uid = ?").run(a.sopInstanceUid);
      s.db.statement("DELETE FROM instances WHERE sop_instance_uid = ?").run(a.sopInstanceUid);
    });
    const dir = path.join(s.dir, "erasing");
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, "one.json"),
      JSON.stringify({
        entries: [{ key: key(a), moved: "erasing/one/0" }, { key: key(b), moved: "erasing/one/1" }],
      }),
    );
    // Killed after the files moved out (marked), with c's file received again at its key since: kept.
    s.db.write(() => {
      s.db.statement("DELETE FROM queue WHERE sop_instance_uid = ?").run(c.sopInstanceUid);
      s.db.statement("DELETE FROM instances WHERE sop_instance_uid = ?").run(c.sopInstanceUid);
    });
    fs.mkdirSync(path.join(dir, "two"));
    fs.copyFileSync(path.join(s.dir, key(c)), path.join(dir, "two", "0"));
    fs.writeFileSync(
      path.join(dir, "two.json"),
      JSON.stringify({ entries: [{ key: key(c), moved: "erasing/two/0" }], moved: true }),
    );
    // A journal cut short while it was first written: the erasure never began.
    fs.writeFileSync(path.join(dir, "three.json"), '{"entries": [');

    assert.equal(await s.eraser.finish(), 3);
    assert.ok(!fs.existsSync(path.join(s.dir, key(a))));
    assert.ok(fs.existsSync(path.join(s.dir, key(b))));
    assert.ok(fs.existsSync(path.join(s.dir, key(c))));
    assert.deepEqual(fs.readdirSync(dir), []);
    assert.equal(await s.eraser.finish(), 0);
  } finally {
    await s.tearDown();
  }
});

Deno.test("a start removes the thumbnails named before their object's tag, which no erasure could find", async () => {
  const s = await storedStudy("erase-untagged");
  try {
    const dir = path.join(s.dir, "thumbnails");
    fs.mkdirSync(dir);
    // Written by a version before the tag (any object's, even a study's erased since), one with the tag,
    // one half written, and what the cache does not name: only the first goes.
    const untagged = `${"cd".repeat(32)}.png`;
    const tagged = `${objectTag(s.specs[0].sopInstanceUid)}-${"ab".repeat(32)}.jpg`;
    const others = [tagged, `${tagged}.1234.part`, "notes.txt"];
    for (const name of [untagged, ...others]) fs.writeFileSync(path.join(dir, name), "x");
    assert.equal(await s.eraser.finish(), 0, "no journal");
    assert.deepEqual(fs.readdirSync(dir).sort(), others.sort());
    // Nothing ever rendered: no folder, no harm.
    fs.rmSync(dir, { recursive: true });
    assert.equal(await s.eraser.finish(), 0);
    assert.ok(!fs.existsSync(dir));
  } finally {
    await s.tearDown();
  }
});

Deno.test("a file an erasure cannot take out is left to the journal, which the next start finishes", async () => {
  const s = await storedStudy("erase-stuck");
  try {
    let failures = 1;
    class StuckOnce extends FileArchive {
      override takeOut(from: string, to: string): Promise<boolean> {
        if (failures-- > 0) return Promise.reject(Object.assign(new Error("busy"), { code: "EBUSY" }));
        return super.takeOut(from, to);
      }
    }
    const eraser = new Eraser(s.db, new StuckOnce(s.dir, true), s.dir, quiet, (fn) => s.ingest.exclusive(fn));
    const result = await eraser.erase({ studyInstanceUid: s.specs[0].studyInstanceUid });
    assert.equal(result.instances, 5);
    assert.equal(result.files, 4);
    assert.equal(s.count("instances"), 0);
    assert.equal(s.files().length, 1, "the stuck file stays until the next start");
    assert.equal(await s.eraser.finish(), 1);
    assert.equal(s.files().length, 0);
    assert.deepEqual(fs.readdirSync(path.join(s.dir, "erasing")), []);
  } finally {
    await s.tearDown();
  }
});
