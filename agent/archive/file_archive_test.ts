import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { type Archive, asideKey, objectKey, parseAsideKey, parseObjectKey } from "./archive.ts";
import { FileArchive } from "./file_archive.ts";
import { readUpTo } from "../part10/source.ts";

async function put(archive: Archive, key: string, text: string): Promise<void> {
  const staged = archive.staging();
  fs.writeFileSync(staged, text);
  await archive.place(staged, key);
}

async function text(archive: Archive, key: string): Promise<string> {
  const source = await archive.open(key);
  try {
    return new TextDecoder().decode(await readUpTo(source, 0, source.size));
  } finally {
    await source.close();
  }
}

async function keys(archive: Archive, prefix: string, changedSince?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const key of archive.list(prefix, { changedSince })) out.push(key);
  return out;
}

Deno.test("FileArchive places, reads at positions, stats and removes objects by key", async () => {
  const archive = new FileArchive(await Deno.makeTempDir({ prefix: "archive-test-" }), false);
  await archive.prepare();
  const key = objectKey("1.2", "1.2.3", "1.2.3.4");
  assert.equal(await archive.stat(key), undefined);
  await put(archive, key, "0123456789");
  assert.equal((await archive.stat(key))?.size, 10);
  const source = await archive.open(key);
  try {
    const into = new Uint8Array(4);
    assert.equal(await source.read(into, 3), 4);
    assert.equal(new TextDecoder().decode(into), "3456");
    assert.equal(await source.read(into, 10), 0, "nothing past the end");
  } finally {
    await source.close();
  }
  await put(archive, key, "replaced");
  assert.equal(await text(archive, key), "replaced");
  await archive.remove(key);
  assert.equal(await archive.stat(key), undefined);
  await archive.remove(key); // removing what is gone is no error
});

Deno.test("FileArchive.prepare() removes staged files an earlier run left, and nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "archive-test-" });
  const archive = new FileArchive(dir, false);
  await archive.prepare();
  const left = archive.staging();
  fs.writeFileSync(left, "half");
  fs.writeFileSync(path.join(dir, "tmp", "keep.txt"), "not staged");
  assert.equal(await new FileArchive(dir, false).prepare(), 1);
  assert.equal(fs.existsSync(left), false);
  assert.equal(fs.existsSync(path.join(dir, "tmp", "keep.txt")), true);
});

Deno.test("FileArchive.list() names every key under a prefix, and with changedSince skips unchanged folders", async () => {
  const dir = await Deno.makeTempDir({ prefix: "archive-test-" });
  const archive = new FileArchive(dir, false);
  await archive.prepare();
  const old = [objectKey("1.1", "1.1.1", "1.1.1.1"), objectKey("1.1", "1.1.1", "1.1.1.2")];
  for (const k of old) await put(archive, k, "old");
  await put(archive, "deid/abc/2.25.1.dcm", "copy");
  // Make the folders old, then add one object to the existing series and one in a new study.
  const past = new Date(Date.now() - 3_600_000);
  for (const d of ["archive/1.1/1.1.1", "archive/1.1", "archive"]) {
    fs.utimesSync(path.join(dir, d), past, past);
  }
  const since = Date.now() - 60_000;
  const fresh = [objectKey("1.1", "1.1.1", "1.1.1.3"), objectKey("1.9", "1.9.1", "1.9.1.1")];
  for (const k of fresh) await put(archive, k, "new");
  assert.deepEqual(await keys(archive, "archive/"), [...old, ...fresh].sort());
  assert.deepEqual(await keys(archive, "deid/"), ["deid/abc/2.25.1.dcm"]);
  const changed = await keys(archive, "archive/", since);
  for (const k of fresh) assert.ok(changed.includes(k), `${k} changed and is listed`);
  // The series that gained an object is listed whole; a series untouched since is not read at all.
  fs.utimesSync(path.join(dir, "archive/1.1/1.1.1"), past, past);
  assert.deepEqual(await keys(archive, "archive/", since), [fresh[1]]);
});

Deno.test("FileArchive refuses keys that leave its folder; object keys refuse what is not a UID", async () => {
  const archive = new FileArchive(await Deno.makeTempDir({ prefix: "archive-test-" }), false);
  await assert.rejects(() => archive.open("../outside.dcm"), /not an archive key/);
  await assert.rejects(() => archive.open("/etc/passwd"), /not an archive key/);
  assert.throws(() => objectKey("1.2", "../..", "1.2.3"), /not a valid UID/);
  assert.deepEqual(parseObjectKey(objectKey("1.2", "1.2.3", "1.2.3.4")), {
    study: "1.2",
    series: "1.2.3",
    sop: "1.2.3.4",
  });
  assert.equal(parseObjectKey("deid/abc/2.25.1.dcm"), undefined);
  // A kept-aside copy's name is none an object key can have; the older name (all 16 digits decimal) could.
  const aside = asideKey("archive/1/2/3.dcm", "12".repeat(32));
  assert.equal(aside, `archive/1/2/3.conflict-${"12".repeat(8)}.dcm`);
  assert.equal(parseObjectKey(aside), undefined);
  assert.deepEqual(parseAsideKey(aside), {
    study: "1",
    series: "2",
    sop: "3",
    hash16: "12".repeat(8),
    older: false,
  });
  const older = `archive/1/2/3.${"12".repeat(8)}.dcm`;
  assert.ok(parseObjectKey(older), "why the name changed");
  assert.equal(parseAsideKey(older)?.older, true);
});

Deno.test("FileArchive: objects placed in one folder together share its syncs, and each is there after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "archive-test-" });
  try {
    const archive = new FileArchive(dir, true);
    await archive.prepare();
    const keysPlaced = Array.from({ length: 20 }, (_, i) => objectKey("1.2", "1.2.3", `1.2.3.${i + 1}`));
    // The first creates the study and series folders (their parents synced); the rest wait for it.
    await Promise.all(keysPlaced.map((key, i) => put(archive, key, `object ${i}`)));
    for (const [i, key] of keysPlaced.entries()) assert.equal(await text(archive, key), `object ${i}`);
    const { syncs, callers } = archive.folderSyncs;
    assert.ok(callers >= 20, `callers ${callers}`);
    assert.ok(syncs < callers / 2, `${syncs} folder syncs for ${callers} callers`);
    // Alone, a placement still gets a sync of its own.
    const before = archive.folderSyncs.syncs;
    await put(archive, objectKey("1.2", "1.2.3", "1.2.3.99"), "alone");
    assert.equal(archive.folderSyncs.syncs, before + 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileArchive makes a series folder again when it went away after its first object, synced or not", async () => {
  for (const sync of [false, true]) {
    const dir = await Deno.makeTempDir({ prefix: "archive-test-" });
    const archive = new FileArchive(dir, sync);
    await archive.prepare();
    try {
      await put(archive, objectKey("1.2", "1.2.3", "1.2.3.4"), "first");
      await Deno.remove(path.join(dir, "archive", "1.2"), { recursive: true });
      const key = objectKey("1.2", "1.2.3", "1.2.3.5");
      await put(archive, key, "second");
      assert.equal(await text(archive, key), "second", `sync ${sync}`);
      await assert.rejects(archive.place(path.join(dir, "tmp", "gone.part"), key), `sync ${sync}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("FileArchive.place() called again after its folder sync failed (EMFILE) finishes the placement", async () => {
  const dir = await Deno.makeTempDir({ prefix: "conduit-place-retry-" });
  try {
    const archive = new FileArchive(dir, true);
    const staged = `${dir}/staged.part`;
    await Deno.writeTextFile(staged, "object");
    const key = "archive/s1/o1.dcm";
    // The first folder sync finds no descriptor (Deno.open of the folder fails), as at the process's limit.
    const open = Deno.open;
    let failed = 0;
    Deno.open = ((p: string | URL, o?: Deno.OpenOptions) => {
      if (String(p) === `${dir}/archive/s1` && failed++ === 0) {
        return Promise.reject(
          Object.assign(new Error("Too many open files (os error 24)"), { code: "EMFILE" }),
        );
      }
      return open(p, o);
    }) as typeof Deno.open;
    try {
      await assert.rejects(archive.place(staged, key), /os error 24/);
    } finally {
      Deno.open = open;
    }
    assert.equal(failed, 1);
    // The group commit tries again once descriptors are free: the placement completes.
    await archive.place(staged, key);
    assert.equal(await Deno.readTextFile(`${dir}/${key}`), "object");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
