/**
 * The start after `agent restore` (the `restored` marker): index rows whose file is missing become
 * tombstones and the queue rows still to send them dead, for archived objects and de-identified copies
 * alike; rows whose file is there are left as they are; the marker goes once done.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { generateInstance, type InstanceSpec, uidFromKey } from "@conduit/shared/testing";
import { Database } from "../index/db.ts";
import { indexInstance } from "../index/instances.ts";
import { indexEntryOf } from "../index/testing.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { reconcileAfterCrash, RESTORED } from "./recover.ts";

const spec = (key: string): InstanceSpec => ({
  modality: "CT",
  patientName: "RESTORE^TEST",
  patientId: "R-1",
  studyInstanceUid: uidFromKey("restore/study"),
  seriesInstanceUid: uidFromKey("restore/series"),
  sopInstanceUid: uidFromKey(`restore/${key}`),
  instanceNumber: 1,
});

Deno.test("a restored index: rows whose file is missing are tombstoned, their queue rows dead", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "restore-test-" });
  const db = await Database.open(path.join(dataDir, "agent.db"));
  try {
    const kept = spec("kept");
    const lost = spec("lost");
    const keyOf = (s: InstanceSpec) =>
      `archive/${s.studyInstanceUid}/${s.seriesInstanceUid}/${s.sopInstanceUid}.dcm`;
    for (const s of [kept, lost]) {
      const bytes = generateInstance(s);
      const { attrs, file } = indexEntryOf(bytes, keyOf(s));
      indexInstance(db, attrs, file);
      if (s === kept) {
        fs.mkdirSync(path.dirname(path.join(dataDir, keyOf(s))), { recursive: true });
        fs.writeFileSync(path.join(dataDir, keyOf(s)), bytes);
      }
    }
    const now = Date.now();
    db.write(() => {
      db.statement(
        `INSERT INTO deid_copies (id, route, source_sop_instance_uid, sop_instance_uid, sop_class_uid,
          transfer_syntax_uid, path, file_size, dataset_offset, dataset_size, sha256, created_at)
          VALUES (7, 'anon', ?, '2.25.7', '1.2', '1.2.840.10008.1.2.1', 'deid/anon/7.dcm', 10, 0, 10, '', ?)`,
      ).run(kept.sopInstanceUid, now);
      const row = db.statement(
        `INSERT INTO queue (sop_instance_uid, route, destination, state, next_attempt_at, created_at, updated_at,
          copy_id) VALUES (?, ?, ?, ?, 0, 0, 0, ?)`,
      );
      row.run(kept.sopInstanceUid, "all", "pacs", "pending", null);
      row.run(lost.sopInstanceUid, "all", "pacs", "failed", null);
      row.run(lost.sopInstanceUid, "other", "pacs", "done", null);
      row.run(kept.sopInstanceUid, "anon", "pacs", "pending", 7);
    });
    fs.writeFileSync(path.join(dataDir, RESTORED), "{}\n");
    fs.writeFileSync(path.join(dataDir, "clean-stop"), "1\n");

    const result = await reconcileAfterCrash(db, new FileArchive(dataDir), dataDir);
    assert.deepEqual(result, { crashed: false, restored: true, removed: 0, indexed: 0, missing: 2 });
    const instances = await db.query<{ s: string; path: string; removed: number | null }>(
      "SELECT sop_instance_uid AS s, path, removed_at AS removed FROM instances ORDER BY path",
    );
    assert.deepEqual(instances.map((i) => [i.s, i.path, i.removed !== null]), [
      [lost.sopInstanceUid, "", true],
      [kept.sopInstanceUid, keyOf(kept), false],
    ]);
    const queue = await db.query<{ route: string; state: string; e: string }>(
      "SELECT route, state, last_error AS e FROM queue ORDER BY id",
    );
    assert.deepEqual(queue.map((q) => [q.route, q.state]), [
      ["all", "pending"],
      ["all", "dead"],
      ["other", "done"],
      ["anon", "dead"],
    ]);
    assert.match(queue[1].e, /the file is missing \(the index was restored from a backup\)/);
    const copy = await db.query<{ removed: number | null }>("SELECT removed_at AS removed FROM deid_copies");
    assert.notEqual(copy[0].removed, null);
    assert.ok(!fs.existsSync(path.join(dataDir, RESTORED)), "the marker goes once reconciled");

    // The next start after a clean stop does nothing of the kind.
    fs.writeFileSync(path.join(dataDir, "clean-stop"), "1\n");
    assert.deepEqual(await reconcileAfterCrash(db, new FileArchive(dataDir), dataDir), {
      crashed: false,
      restored: false,
      removed: 0,
      indexed: 0,
      missing: 0,
    });
  } finally {
    db.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
