/**
 * Resolving a keepBoth conflict (resolve.ts) over a real archive and index: keep the stored object (the
 * kept copy deleted) or the received one (the kept copy at the object key, indexed, routed again), never
 * twice; a resolution a crash interrupted at each step is finished by the next start; and the listing's
 * `unresolved` filter and stable `before` cursor (index/conflicts.ts).
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { Logger } from "@conduit/shared/log";
import { Queue } from "../queue/queue.ts";
import type { CompiledRoute } from "../routing/rules.ts";
import type { Database } from "../index/db.ts";
import { beginResolution, conflictById, type ConflictView, listConflicts } from "../index/conflicts.ts";
import { existingInstance } from "../index/instances.ts";
import { FileArchive } from "../archive/file_archive.ts";
import { ConflictResolveError, ConflictResolver } from "./resolve.ts";
import { ingestRig, otherBytes } from "./testing.ts";

const quiet = new Logger({}, "error", { write: () => {} });
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const all: CompiledRoute = { name: "all", destinations: ["pacs"], matches: () => true };

/** A keepBoth ingest routing everything to pacs, the object stored, delivered, then received again. */
async function conflicted(seed: string, duplicates: "keepBoth" | "keepLast" = "keepBoth") {
  let queue: Queue | undefined;
  /** What the ingest reported committed (the metrics' received and stored counters). */
  const stored: unknown[] = [];
  const rig = await ingestRig(seed, true, (db) => ({
    onStored: (e) => stored.push(e),
    duplicates,
    routing: { routes: [all], queue: queue = new Queue(db), queued: () => {} },
  }));
  assert.equal((await rig.store(rig.dataset)).outcome.status, 0);
  const [row] = queue!.claim("pacs", 10);
  queue!.markDone(row.id);
  const second = otherBytes(rig.dataset);
  assert.equal((await rig.store(second)).outcome.status, 0);
  const [conflict] = listConflicts(rig.db).conflicts;
  const archive = new FileArchive(rig.dir, true);
  const resolver = new ConflictResolver({ db: rig.db, archive, ingest: rig.ingest, log: quiet });
  const key = existingInstance(rig.db, rig.sopInstanceUid)!.path;
  const file = (k: string) => path.join(rig.dir, k);
  /** The data set of the archived object's file, as the index describes it. */
  const archivedDataset = () => {
    const found = rig.db.statement(
      "SELECT path, sha256, dataset_offset AS o, dataset_size AS n FROM instances WHERE sop_instance_uid = ?",
    ).get(rig.sopInstanceUid) as { path: string; sha256: string; o: number; n: number };
    const row = { path: found.path, sha256: found.sha256, o: found.o, n: found.n };
    const bytes = fs.readFileSync(file(row.path));
    return { row, dataset: bytes.subarray(row.o, row.o + row.n), fileSize: bytes.length };
  };
  return { ...rig, queue: queue!, second, conflict, archive, resolver, key, file, archivedDataset, stored };
}

type Rig = Awaited<ReturnType<typeof conflicted>>;

/** The state after keeping the received copy: its bytes archived at the key, indexed, queued again. */
function assertReceivedKept(rig: Rig, resolved: ConflictView) {
  assert.equal(resolved.resolution, "received");
  assert.ok(resolved.resolvedAt && !Number.isNaN(Date.parse(resolved.resolvedAt)));
  assert.ok(!fs.existsSync(rig.file(rig.conflict.keptPath!)), "the kept copy moved");
  const { row, dataset } = rig.archivedDataset();
  assert.equal(row.path, rig.key, "the object key, as keepLast leaves it");
  assert.deepEqual(new Uint8Array(dataset), rig.second, "the received bytes, where the index says");
  assert.equal(row.sha256, sha256(rig.second));
  assert.equal(rig.queue.list({ destination: "pacs" })[0].state, "pending", "routed again");
}

Deno.test("resolve: keep received makes the kept copy the archived object, routed again; never twice", async () => {
  const rig = await conflicted("resolve-received");
  try {
    assert.equal(rig.conflict.policy, "keepBoth");
    assert.equal(rig.conflict.resolution, null);
    assert.equal(rig.conflict.resolvedAt, null);
    assert.equal(rig.queue.list({ destination: "pacs" })[0].state, "done");
    const reported = rig.stored.length;
    assertReceivedKept(rig, await rig.resolver.resolve(rig.conflict.id, "received"));
    assert.equal(rig.stored.length, reported, "nothing received: the metrics' counters stay");
    assert.deepEqual(conflictById(rig.db, rig.conflict.id)?.resolution, "received");
    for (const keep of ["received", "stored"] as const) {
      await assert.rejects(rig.resolver.resolve(rig.conflict.id, keep), (e: unknown) => {
        assert.ok(e instanceof ConflictResolveError && e.kind === "refused", String(e));
        assert.match(
          e.message,
          new RegExp(`^conflict ${rig.conflict.id} was resolved already \\(keep received`),
        );
        return true;
      });
    }
    await assert.rejects(rig.resolver.resolve(999, "stored"), (e: unknown) => {
      assert.ok(e instanceof ConflictResolveError && e.kind === "not-found");
      return true;
    });
  } finally {
    await rig.tearDown();
  }
});

Deno.test("resolve: keep stored deletes the kept copy and changes nothing else", async () => {
  const rig = await conflicted("resolve-stored");
  try {
    const before = rig.archivedDataset();
    const resolved = await rig.resolver.resolve(rig.conflict.id, "stored");
    assert.equal(resolved.resolution, "stored");
    assert.ok(resolved.resolvedAt);
    assert.ok(!fs.existsSync(rig.file(rig.conflict.keptPath!)));
    const after = rig.archivedDataset();
    assert.deepEqual(after.row, before.row);
    assert.deepEqual(new Uint8Array(after.dataset), rig.dataset);
    assert.equal(rig.queue.list({ destination: "pacs" })[0].state, "done", "not sent again");
  } finally {
    await rig.tearDown();
  }
});

Deno.test("resolve: a conflict without a kept copy (keepLast) is refused, saying why", async () => {
  const rig = await conflicted("resolve-keeplast", "keepLast");
  try {
    await assert.rejects(rig.resolver.resolve(rig.conflict.id, "received"), (e: unknown) => {
      assert.ok(e instanceof ConflictResolveError && e.kind === "refused");
      assert.match(e.message, /has no kept copy to resolve: the duplicates policy keepLast replaced/);
      return true;
    });
    assert.equal(conflictById(rig.db, rig.conflict.id)?.resolution, null, "nothing begun");
  } finally {
    await rig.tearDown();
  }
});

/** A new resolver's start after a crash: what it finished. */
function restart(rig: Rig, db: Database = rig.db) {
  return new ConflictResolver({ db, archive: rig.archive, ingest: rig.ingest, log: quiet }).finishUnderWay();
}

Deno.test("resolve: a crash after the resolution began, before the files changed, is finished at start", async () => {
  for (const keep of ["received", "stored"] as const) {
    const rig = await conflicted(`resolve-crash-begun-${keep}`);
    try {
      assert.ok(beginResolution(rig.db, rig.conflict.id, keep));
      assert.equal(listConflicts(rig.db, { unresolved: true }).total, 1, "under way is not resolved");
      assert.equal(await restart(rig), 1);
      const resolved = conflictById(rig.db, rig.conflict.id)!;
      if (keep === "received") assertReceivedKept(rig, resolved);
      else {
        assert.equal(resolved.resolution, "stored");
        assert.ok(resolved.resolvedAt);
        assert.ok(!fs.existsSync(rig.file(rig.conflict.keptPath!)));
      }
      assert.equal(await restart(rig), 0, "nothing left under way");
    } finally {
      await rig.tearDown();
    }
  }
});

Deno.test("resolve: a crash after the kept copy moved, before the index changed, is finished at start", async () => {
  const rig = await conflicted("resolve-crash-moved");
  try {
    assert.ok(beginResolution(rig.db, rig.conflict.id, "received"));
    await rig.archive.move(rig.conflict.keptPath!, rig.key);
    // The file at the key is the received one, its row not yet: the start finishes it from that file.
    assert.ok(!fs.existsSync(rig.file(rig.conflict.keptPath!)));
    assert.equal(conflictById(rig.db, rig.conflict.id)?.resolvedAt, null);
    assert.equal(await restart(rig), 1);
    assertReceivedKept(rig, conflictById(rig.db, rig.conflict.id)!);
  } finally {
    await rig.tearDown();
  }
});

Deno.test("conflicts listing: resolved ones shown as such, --unresolved, a before cursor stable as rows arrive", async () => {
  const rig = await conflicted("resolve-list");
  try {
    // Two more versions of the object: three conflicts, three kept copies.
    for (const change of [0x0f, 0xf0]) {
      assert.equal((await rig.store(otherBytes(rig.dataset, change))).outcome.status, 0);
    }
    const ids = listConflicts(rig.db).conflicts.map((c) => c.id);
    assert.equal(ids.length, 3);
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), "newest first");
    await rig.resolver.resolve(ids[1], "stored");
    const listed = listConflicts(rig.db);
    assert.deepEqual(listed.conflicts.map((c) => c.resolution), [null, "stored", null]);
    const open = listConflicts(rig.db, { unresolved: true });
    assert.equal(open.total, 2);
    assert.deepEqual(open.conflicts.map((c) => c.id), [ids[0], ids[2]]);

    // A page of two, then a new conflict arrives: `before` the page's last id goes on where it stopped;
    // `offset` (kept for compatibility) shifts and lists that row again.
    const first = listConflicts(rig.db, { limit: 2 }).conflicts;
    assert.equal((await rig.store(otherBytes(rig.dataset, 0x3c))).outcome.status, 0);
    const next = listConflicts(rig.db, { limit: 2, before: first.at(-1)!.id });
    assert.deepEqual(next.conflicts.map((c) => c.id), [ids[2]]);
    assert.equal(next.total, 4, "the total is of every conflict, not of the page");
    assert.deepEqual(listConflicts(rig.db, { limit: 2, offset: 2 }).conflicts.map((c) => c.id), [
      ids[1],
      ids[2],
    ]);
    assert.deepEqual(
      listConflicts(rig.db, { before: ids[0], unresolved: true }).conflicts.map((c) => c.id),
      [ids[2]],
    );
  } finally {
    await rig.tearDown();
  }
});

Deno.test("resolve: a resolution a start cannot finish (the copy spoiled by hand) can still keep the stored object", async () => {
  const rig = await conflicted("resolve-stuck");
  try {
    assert.ok(beginResolution(rig.db, rig.conflict.id, "received"));
    const kept = rig.file(rig.conflict.keptPath!);
    fs.writeFileSync(kept, "not DICOM any more");
    assert.equal(await restart(rig), 0, "not finished");
    const stuck = conflictById(rig.db, rig.conflict.id)!;
    assert.deepEqual([stuck.resolution, stuck.resolvedAt], ["received", null], "under way, listed so");
    await assert.rejects(rig.resolver.resolve(rig.conflict.id, "received"), ConflictResolveError);
    const before = rig.archivedDataset();
    const resolved = await rig.resolver.resolve(rig.conflict.id, "stored");
    assert.equal(resolved.resolution, "stored");
    assert.ok(resolved.resolvedAt);
    assert.ok(!fs.existsSync(kept));
    assert.deepEqual(new Uint8Array(rig.archivedDataset().dataset), new Uint8Array(before.dataset));
    assert.deepEqual(new Uint8Array(before.dataset), rig.dataset, "the stored object as it was");
  } finally {
    await rig.tearDown();
  }
});

Deno.test("resolve: a kept copy changed by hand is refused before anything begins; the stored object stays", async () => {
  const rig = await conflicted("resolve-spoiled");
  try {
    const kept = rig.file(rig.conflict.keptPath!);
    const bytes = fs.readFileSync(kept);
    bytes[bytes.length - 1] ^= 0x55; // the same object, other pixel bytes than the ones recorded
    fs.writeFileSync(kept, bytes);
    await assert.rejects(rig.resolver.resolve(rig.conflict.id, "received"), (e: unknown) => {
      assert.ok(e instanceof ConflictResolveError && e.kind === "refused", String(e));
      assert.match(e.message, /kept copy is not the object received any more \(changed by hand\?\)/);
      return true;
    });
    assert.equal(conflictById(rig.db, rig.conflict.id)?.resolution, null, "nothing begun");
    assert.ok(fs.existsSync(kept));
    assert.deepEqual(new Uint8Array(rig.archivedDataset().dataset), rig.dataset);
  } finally {
    await rig.tearDown();
  }
});
