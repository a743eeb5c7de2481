/**
 * Retention removes an object only while it is still the one it selected: a new version that replaced it
 * (archive.duplicates keepLast) during the sweep, with rows to send, stays.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import type { Archive } from "../archive/archive.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { Queue } from "../queue/queue.ts";
import type { CompiledRoute } from "../routing/rules.ts";
import { ingestRig } from "../ingest/testing.ts";
import { Retention } from "./retention.ts";

const quiet = new Logger({}, "error", { write: () => {} });

Deno.test("retention keeps an object replaced (keepLast) while its sweep was under way", async () => {
  let queue: Queue | undefined;
  const all: CompiledRoute = { name: "all", destinations: ["pacs"], matches: () => true };
  const rig = await ingestRig("retention-race", false, (db) => ({
    routing: { routes: [all], queue: queue = new Queue(db), queued: () => {} },
    duplicates: "keepLast",
  }));
  const { db, dir, dataset, sopInstanceUid, store, tearDown } = rig;
  try {
    assert.equal((await store(dataset)).outcome.status, 0);
    const [row] = queue!.claim("pacs", 10);
    queue!.markDone(row.id, Date.now() - 10_000);
    // Not hashed yet (a C-STORE's bytes are hashed by the backfill): the sweep reads the file to hash it.
    db.write(() => db.statement("UPDATE instances SET sha256 = ''").run());
    const other = dataset.slice();
    other[other.length - 1] ^= 1;
    const files = new FileArchive(dir, false);
    let replaced = false;
    // While the sweep reads the old version, a new version arrives and replaces it.
    const archive = new Proxy(files, {
      get(target, prop, receiver) {
        if (prop === "open") {
          return async (key: string) => {
            if (!replaced) {
              replaced = true;
              assert.equal((await store(other)).outcome.status, 0);
            }
            return await target.open(key);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Archive;
    await new Retention(db, archive, { afterForwardSeconds: 1 }, quiet).sweep();
    assert.ok(replaced);

    const [instance] = db.statement("SELECT path, removed_at FROM instances WHERE sop_instance_uid = ?")
      .all(sopInstanceUid) as { path: string; removed_at: number | null }[];
    assert.equal(instance.removed_at, null, "the new version is not tombstoned");
    assert.ok(
      fs.existsSync(path.join(dir, "archive", instance.path)) || fs.existsSync(path.join(dir, instance.path)),
      "its file is there",
    );
    assert.equal(queue!.claim("pacs", 10).length, 1, "and it is sent to pacs");
  } finally {
    await tearDown();
  }
});

Deno.test("retention never removes an object awaiting Storage Commitment, and does once it is committed", async () => {
  let queue: Queue | undefined;
  const all: CompiledRoute = { name: "all", destinations: ["pacs"], matches: () => true };
  const rig = await ingestRig("retention-commit", false, (db) => ({
    routing: { routes: [all], queue: queue = new Queue(db), queued: () => {} },
  }));
  const { db, dir, dataset, sopInstanceUid, store, tearDown } = rig;
  try {
    assert.equal((await store(dataset)).outcome.status, 0);
    const [row] = queue!.claim("pacs", 10);
    queue!.markCommitting([{ id: row.id, status: 0 }], "2.25.42", Date.now() + 60_000, Date.now() - 10_000);
    const files = new FileArchive(dir, false);
    const removed = () =>
      (db.statement("SELECT removed_at FROM instances WHERE sop_instance_uid = ?").get(sopInstanceUid) as {
        removed_at: number | null;
      }).removed_at;
    await new Retention(db, files, { afterForwardSeconds: 0, afterDays: 0 }, quiet).sweep();
    assert.equal(removed(), null, "kept while awaiting commitment");
    assert.equal(queue!.markCommitted([row.id], "2.25.42", Date.now() - 5_000), 1);
    await new Retention(db, files, { afterForwardSeconds: 0 }, quiet).sweep();
    assert.notEqual(removed(), null, "removed once committed");
  } finally {
    await tearDown();
  }
});
