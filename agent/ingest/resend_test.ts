/**
 * A resend (a C-STORE of an archived object's own bytes) is answered without a sync, a rename or a
 * commit: its bytes are durable in the archive already. Anything else under a known UID goes the usual
 * way (synced, then a duplicate or a conflict in the group commit). Without syncs there is nothing to
 * spare, and a resend goes the usual way too: a duplicate in the group commit.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { ingestRig } from "./testing.ts";

/**
 * An ingest with an intake in a fresh folder (with or without syncs), one generated object, and `store`: one
 * C-STORE of some bytes as the wire layer does it (the sink written, ended, then committed).
 */
/** The last stored event is the resend of `sopInstanceUid` from SENDER, found a duplicate (no conflict). */
function assertDuplicate(events: unknown[], sopInstanceUid: string, bytes: number): void {
  assert.deepEqual(events.at(-1), {
    sopInstanceUid,
    callingAet: "SENDER",
    bytes,
    duplicate: true,
    conflict: false,
  });
}

async function setUp(sync: boolean, seed: string) {
  const events: { duplicate: boolean; conflict?: boolean }[] = [];
  const rig = await ingestRig(seed, sync, () => ({ onStored: (e) => events.push(e) }));
  return { ...rig, events };
}

Deno.test("a resend is answered without a sync or a commit; other bytes of the same size go the usual way", async () => {
  const { db, intake, ingest, events, dataset, sopInstanceUid, store, tearDown } = await setUp(
    true,
    "resend",
  );
  try {
    const intakeNames = () => fs.readdirSync(intake.dir).filter((n) => n.endsWith(".dcm"));

    const first = await store(dataset);
    assert.equal(first.outcome.status, 0);
    assert.equal(first.sink.sameAsStored, false);
    assert.equal(ingest.group!.stats.objects, 1, "the first one committed");

    const again = await store(dataset);
    assert.equal(again.outcome.status, 0);
    assert.equal(again.sink.sameAsStored, true, "taken for the archived object before any sync");
    assert.equal(ingest.group!.stats.objects, 1, "nothing committed");
    assert.equal(fs.existsSync(again.sink.tempPath), false, "its staging file removed");
    assert.deepEqual(intakeNames(), [], "nothing left in the intake");
    assertDuplicate(events, sopInstanceUid, again.sink.received!.fileSize);

    const other = dataset.slice();
    other[other.length - 1] ^= 1; // the last pixel byte
    const changed = await store(other);
    assert.equal(changed.outcome.status, 0, "a conflict is answered Success too");
    assert.equal(changed.sink.sameAsStored, false, "other bytes are synced and committed as usual");
    assert.equal(events.at(-1)?.conflict, true, "and recorded as a conflict");
    const rows = db.statement("SELECT count(*) AS n FROM conflicts").get();
    assert.equal(Number(rows?.n), 1);
  } finally {
    await tearDown();
  }
});

Deno.test("without syncs a resend is not looked up before its rename: the group commit finds it a duplicate", async () => {
  const { dir, db, intake, ingest, events, dataset, sopInstanceUid, store, tearDown } = await setUp(
    false,
    "resend-nosync",
  );
  try {
    await store(dataset);
    const archived = path.join(dir, String(db.statement("SELECT path FROM instances").get()?.path));
    const before = fs.statSync(archived);
    const again = await store(dataset);
    assert.equal(again.outcome.status, 0);
    assert.equal(again.sink.sameAsStored, false, "not compared before its rename");
    assert.equal(ingest.group!.stats.objects, 1, "no second row");
    assertDuplicate(events, sopInstanceUid, again.sink.received!.fileSize);
    assert.deepEqual(fs.readdirSync(intake.dir).filter((n) => n.endsWith(".dcm")), [], "the intake is empty");
    assert.equal(fs.statSync(archived).ino, before.ino, "the archived file is the first one");
  } finally {
    await tearDown();
  }
});
