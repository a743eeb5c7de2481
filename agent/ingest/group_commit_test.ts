import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { Logger } from "@conduit/shared/log";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import { FileArchive } from "../archive/file_archive.ts";
import { Database } from "../index/db.ts";
import { Ingest } from "./ingest.ts";
import { Intake } from "./intake.ts";
import { receivedFrom } from "./recover.ts";
import { openFile } from "../part10/source.ts";
import { CommitBlockedError, type GroupCommitOptions } from "./group_commit.ts";

const quiet = new Logger({}, "error", { write: () => {} });
const association = { callingAet: "SENDER", calledAet: "CONDUIT", remoteAddress: "127.0.0.1" };

/** A real archive, index and intake in a temporary folder, and `n` generated objects to feed them. */
async function setup(n: number, options: GroupCommitOptions) {
  const dir = await Deno.makeTempDir({ prefix: "group-commit-" });
  const archive = new FileArchive(dir, false);
  await archive.prepare();
  const db = await Database.open(path.join(dir, "agent.db"), { durable: false });
  const intake = new Intake(dir, false);
  intake.prepare();
  const ingest = new Ingest({ archive, db, log: quiet, intake, groupCommit: options });
  db.waitFor(() => ingest.settled());
  const specs = [...generateStudies({
    seed: "group",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: n }],
    rows: 8,
    columns: 8,
  })];
  /** Puts object i in the intake, as a C-STORE answered Success leaves it, checked for the group. */
  const answered = async (i: number) => {
    const staged = intake.take();
    staged.file?.close();
    await Deno.writeFile(staged.path, generateInstance(specs[i]));
    const file = await intake.accept(staged.path, association);
    const source = await openFile(file);
    const received = await receivedFrom(source, file, association.callingAet).finally(() => source.close());
    return await ingest.check(received, { association, ...received.meta });
  };
  const accept = async (i: number) => ingest.group!.add(await answered(i));
  const indexed = () => Number(db.statement("SELECT count(*) AS n FROM instances").get()?.n);
  const close = async () => {
    ingest.group!.close();
    await ingest.settled();
    await intake.close();
    db.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { dir, db, ingest, specs, answered, accept, indexed, close };
}

Deno.test("settled() waits for the objects added before it, not for those that keep arriving", async () => {
  const t = await setup(40, { gatherMs: 0, maxGroup: 5 });
  try {
    const objects = await Promise.all(t.specs.map((_, i) => t.answered(i)));
    t.ingest.group!.add(objects[0]);
    let settledAt = -1;
    const settled = t.ingest.settled().then(() => settledAt = t.indexed());
    // More objects arrive after the call: the group commit does not go idle before all 40 are in.
    for (const object of objects.slice(1)) t.ingest.group!.add(object);
    await settled;
    assert.ok(
      settledAt >= 1 && settledAt <= 5,
      `settled() resolved with the first group, before the objects added after it (${settledAt} indexed)`,
    );
    await t.ingest.settled();
    assert.equal(t.indexed(), 40);
    assert.equal(t.ingest.group!.pending, 0);
  } finally {
    await t.close();
  }
});

Deno.test("while commits fail, readers wait for them (up to the limit), then see the objects", async () => {
  const t = await setup(2, { gatherMs: 0, blockedLimitMs: 60_000 });
  // A file where the study's archive folder goes: placing fails until it is removed.
  const blocker = path.join(t.dir, "archive", t.specs[0].studyInstanceUid);
  fs.writeFileSync(blocker, "not a folder");
  try {
    await t.accept(0);
    await t.accept(1);
    let caughtUp = false;
    const reading = t.db.caughtUp().then(() => caughtUp = true);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(t.ingest.group!.blocked, true);
    assert.equal(caughtUp, false, "a reader does not go on while acknowledged objects are uncommitted");
    assert.equal(t.indexed(), 0);
    fs.rmSync(blocker);
    await reading;
    assert.equal(t.indexed(), 2, "the reader went on once both were committed");
    assert.equal(t.ingest.group!.blocked, false);
  } finally {
    await t.close();
  }
});

Deno.test("commits that keep failing hold readers for blockedLimitMs only", async () => {
  const t = await setup(1, { gatherMs: 0, blockedLimitMs: 300 });
  const blocker = path.join(t.dir, "archive", t.specs[0].studyInstanceUid);
  fs.writeFileSync(blocker, "not a folder");
  try {
    await t.accept(0);
    const started = Date.now();
    await t.db.caughtUp();
    const waited = Date.now() - started;
    assert.ok(waited >= 250, `readers waited ${waited} ms`);
    assert.equal(t.indexed(), 0, "the object is still uncommitted: the reader went on without it");
    // Still failing: later readers do not wait again.
    const again = Date.now();
    await t.db.caughtUp();
    assert.ok(Date.now() - again < 100);
    fs.rmSync(blocker);
    for (let i = 0; i < 150 && t.indexed() === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(t.indexed(), 1, "committed once the failure cleared");
  } finally {
    await t.close();
  }
});

Deno.test("a group gathers until someone waits on settled(), then commits at once", async () => {
  const t = await setup(2, { gatherMs: 60_000 });
  try {
    await t.accept(0);
    await t.accept(1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(t.indexed(), 0, "still gathering");
    const started = performance.now();
    await t.ingest.settled();
    assert.equal(t.indexed(), 2);
    assert.ok(performance.now() - started < 30_000, "settled() did not wait out the gathering");
  } finally {
    await t.close();
  }
});

Deno.test("onCommitted is called once per committed group, with its objects and its seconds", async () => {
  const calls: [number, number][] = [];
  const t = await setup(12, { gatherMs: 0, maxGroup: 5, onCommitted: (n, s) => calls.push([n, s]) });
  try {
    const objects = await Promise.all(t.specs.map((_, i) => t.answered(i)));
    for (const object of objects) t.ingest.group!.add(object);
    await t.ingest.settled();
    assert.equal(t.indexed(), 12);
    // Added at once: the first alone (nothing gathered yet), then groups of at most 5 of what waits.
    assert.deepEqual(calls.map(([n]) => n), [1, 5, 5, 1]);
    assert.ok(calls.every(([, s]) => s > 0 && s < 60), `seconds ${calls.map(([, s]) => s)}`);
    assert.equal(t.ingest.group!.stats.groups, calls.length);
  } finally {
    await t.close();
  }
});

Deno.test("a metrics hook that throws does not fail the commit", async () => {
  const t = await setup(1, {
    gatherMs: 0,
    onCommitted: () => {
      throw new Error("hook");
    },
  });
  try {
    await t.accept(0);
    await t.ingest.settled();
    assert.equal(t.indexed(), 1);
    assert.equal(t.ingest.group!.failed, false);
  } finally {
    await t.close();
  }
});

Deno.test("an exclusive operation is refused while commits keep failing, and runs once they clear", async () => {
  const t = await setup(1, { gatherMs: 0, blockedLimitMs: 300 });
  const blocker = path.join(t.dir, "archive", t.specs[0].studyInstanceUid);
  fs.writeFileSync(blocker, "not a folder");
  try {
    await t.accept(0);
    let ran = false;
    // An erasure or a conflict resolution holds the group commit; the group being retried never ends.
    await assert.rejects(
      t.ingest.exclusive(() => Promise.resolve(ran = true)),
      (e: unknown) => e instanceof CommitBlockedError && /cannot be committed/.test(e.message),
    );
    assert.equal(ran, false);
    // Refused, not held: the commit goes on retrying, and once the failure clears the next one runs.
    fs.rmSync(blocker);
    for (let i = 0; i < 150 && t.indexed() === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(t.indexed(), 1, "committed once the failure cleared");
    assert.equal(await t.ingest.exclusive(() => Promise.resolve("done")), "done");
  } finally {
    await t.close();
  }
});
