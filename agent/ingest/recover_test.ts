/**
 * The start after `agent restore` (the `restored` marker): index rows whose file is missing become
 * tombstones and the queue rows still to send them dead, for archived objects and de-identified copies
 * alike; rows whose file is there are left as they are; the marker goes once done. `keepBoth` copies without
 * their conflicts row (placed after the backup) are kept and recorded again, under this version's name and
 * the older one (whose 16 hex digits can all be decimal, so that it looks like an object's key).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { generateInstance, type InstanceSpec, uidFromKey } from "@conduit/shared/testing";
import { Database } from "../index/db.ts";
import { indexInstance } from "../index/instances.ts";
import { indexEntryOf } from "../index/testing.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { asideKey, parseAsideKey, parseObjectKey } from "../archive/archive.ts";
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
    assert.deepEqual(result, {
      crashed: false,
      restored: true,
      removed: 0,
      indexed: 0,
      missing: 2,
      conflicts: 0,
    });
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
      conflicts: 0,
    });
  } finally {
    db.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a keepBoth copy without its conflicts row is kept and recorded again, under either name", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "restore-aside-test-" });
  const db = await Database.open(path.join(dataDir, "agent.db"));
  try {
    const small = (s: InstanceSpec): InstanceSpec => ({ ...s, rows: 8, columns: 8 });
    const first = small(spec("conflicted"));
    const key = `archive/${first.studyInstanceUid}/${first.seriesInstanceUid}/${first.sopInstanceUid}.dcm`;
    const write = (k: string, bytes: Uint8Array) => {
      fs.mkdirSync(path.dirname(path.join(dataDir, k)), { recursive: true });
      fs.writeFileSync(path.join(dataDir, k), bytes);
    };
    const { attrs, file } = indexEntryOf(generateInstance(first), key);
    indexInstance(db, attrs, file);
    write(key, generateInstance(first));
    /** Other bytes under the same UIDs (another instance number), and their data set's SHA-256. */
    const other = (n: number) => {
      const bytes = generateInstance({ ...first, instanceNumber: n });
      const offset = indexEntryOf(bytes, key).file.datasetOffset;
      return { bytes, sha: createHash("sha256").update(bytes.subarray(offset)).digest("hex") };
    };
    // A copy of this version, and two of older versions: one of letters and digits, one whose 16 hex digits
    // are all decimal (about one copy in 2000), which reads as an object key too.
    const copies = [other(2)];
    let n = 3;
    for (const wanted of [/^[0-9]{0,15}[a-f]/, /^[0-9]{16}/]) {
      for (;; n++) {
        const o = other(n);
        if (wanted.test(o.sha)) {
          copies.push(o);
          break;
        }
      }
      n++;
    }
    const keys = [
      asideKey(key, copies[0].sha),
      key.replace(/\.dcm$/, `.${copies[1].sha.slice(0, 16)}.dcm`),
      key.replace(/\.dcm$/, `.${copies[2].sha.slice(0, 16)}.dcm`),
    ];
    assert.match(keys[0], /\/[0-9.]+\.conflict-[0-9a-f]{16}\.dcm$/);
    assert.equal(parseObjectKey(keys[0]), undefined, "this version's name is no object's key");
    assert.ok(parseObjectKey(keys[2]), "the older name, all decimal, looks like an object's key");
    assert.deepEqual(keys.map((k) => parseAsideKey(k)?.older), [false, true, true]);
    copies.forEach((c, i) => write(keys[i], c.bytes));
    // And an object whose SOP Instance UID ends like an older copy's name, the index without it: no copy.
    const stray = small({ ...spec("stray"), sopInstanceUid: `${first.sopInstanceUid}.1234567890123456` });
    const strayKey =
      `archive/${stray.studyInstanceUid}/${stray.seriesInstanceUid}/${stray.sopInstanceUid}.dcm`;
    write(strayKey, generateInstance(stray));
    fs.writeFileSync(path.join(dataDir, RESTORED), "{}\n");

    const result = await reconcileAfterCrash(db, new FileArchive(dataDir), dataDir);
    assert.deepEqual(result, {
      crashed: true,
      restored: true,
      removed: 1,
      indexed: 0,
      missing: 0,
      conflicts: 3,
    });
    for (const k of [key, ...keys]) assert.ok(fs.existsSync(path.join(dataDir, k)), `${k} kept`);
    assert.ok(
      !fs.existsSync(path.join(dataDir, strayKey)),
      "not a copy: an unindexed object, handled as one",
    );
    const rows = await db.query<
      { sop: string; stored: string; received: string; policy: string; kept: string }
    >(
      `SELECT sop_instance_uid AS sop, stored_sha256 AS stored, received_sha256 AS received, policy,
        kept_path AS kept FROM conflicts ORDER BY kept_path`,
    );
    assert.deepEqual(
      rows,
      keys.map((k, i) => ({
        sop: first.sopInstanceUid,
        stored: file.sha256,
        received: copies[i].sha,
        policy: "keepBoth",
        kept: k,
      })).sort((a, b) => a.kept < b.kept ? -1 : 1),
    );

    // Recorded once: the next reconcile finds them in conflicts.
    fs.writeFileSync(path.join(dataDir, RESTORED), "{}\n");
    assert.equal((await reconcileAfterCrash(db, new FileArchive(dataDir), dataDir)).conflicts, 0);
    assert.equal((await db.query("SELECT 1 FROM conflicts")).length, 3);
  } finally {
    db.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
