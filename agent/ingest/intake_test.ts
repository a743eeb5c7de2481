import assert from "node:assert/strict";
import * as path from "node:path";
import { Intake } from "./intake.ts";
import { StoreFileStream } from "../part10/file_stream.ts";

const association = { callingAet: "MODALITY", calledAet: "CONDUIT", remoteAddress: "10.0.0.7" };
const meta = {
  sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
  sopInstanceUid: "1.2.3.4",
  transferSyntax: "1.2.840.10008.1.2.1",
  sourceAet: "MODALITY",
};
/** Ends `stream`; resolves once it has finished (synced) or failed. */
const finished = (stream: StoreFileStream) =>
  new Promise<void>((resolve) => {
    stream.once("finish", () => resolve());
    stream.once("error", () => resolve());
    stream.end();
  });
const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("Intake.take() hands out staging files created ahead; accept() names the sender; close() removes the rest", async () => {
  const dir = await Deno.makeTempDir({ prefix: "intake-" });
  const intake = new Intake(dir, true);
  try {
    intake.prepare();
    const first = intake.take();
    assert.equal(first.file, undefined, "nothing is made ahead before the first object");
    // The ones made ahead appear as empty .part files.
    for (let i = 0; i < 200 && intake.ready < 4; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((names(intake.dir)).length, 4);
    const second = intake.take();
    assert.ok(second.file, "the next object gets a file made ahead");
    assert.equal((await Deno.stat(second.path)).size, 0);

    // Written through the receive path's stream, synced, then accepted: a .dcm entry naming who sent it.
    const stream = new StoreFileStream(second.path, meta, true, second.file);
    stream.write(
      new Uint8Array([
        0x08,
        0x00,
        0x18,
        0x00,
        0x55,
        0x49,
        0x08,
        0x00,
        ...new TextEncoder().encode("1.2.3.4\0"),
      ]),
    );
    await finished(stream);
    assert.ok(stream.received, `received (${stream.failure})`);
    const accepted = await intake.accept(second.path, association);
    assert.match(path.basename(accepted), /\.dcm$/);
    assert.deepEqual(intake.entries().map((e) => e.association), [association]);
    assert.equal((await Deno.readFile(accepted)).length, stream.received.fileSize);

    await intake.close();
    assert.deepEqual(
      (names(intake.dir)).filter((n) => n.endsWith(".part")),
      [],
      "the staging files made ahead are removed when the agent stops",
    );
    assert.equal(intake.prepare(), 0);
  } finally {
    await intake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StoreFileStream reports a file it cannot create as its failure, not a throw", async () => {
  const dir = await Deno.makeTempDir({ prefix: "intake-" });
  try {
    const taken = path.join(dir, "taken.part");
    await Deno.writeFile(taken, new Uint8Array([1]));
    const stream = new StoreFileStream(taken, meta, true); // exclusive create: the name exists
    stream.on("error", () => {});
    stream.write(new Uint8Array(16));
    await finished(stream);
    assert.equal(stream.received, undefined);
    assert.equal((stream.failure as NodeJS.ErrnoException | undefined)?.code, "EEXIST");
    assert.deepEqual(await Deno.readFile(taken), new Uint8Array([1]), "the existing file is untouched");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Intake without sync: accept() renames the staging file (on this thread), and refuses one that is gone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "intake-" });
  const intake = new Intake(dir, false);
  try {
    intake.prepare();
    const staged = intake.take();
    await Deno.writeFile(staged.path, new Uint8Array([1, 2, 3]));
    const accepted = await intake.accept(staged.path, association);
    assert.match(path.basename(accepted), /\.dcm$/);
    assert.ok(names(intake.dir).includes(path.basename(accepted)));
    assert.ok(!names(intake.dir).includes(path.basename(staged.path)));
    assert.deepEqual(intake.entries().map((e) => e.association), [association]);
    assert.deepEqual(await Deno.readFile(accepted), new Uint8Array([1, 2, 3]));
    await assert.rejects(intake.accept(staged.path, association), /ENOENT|No such file/);
  } finally {
    await intake.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Intake.prepare() after a crash removes every .part file and counts only objects cut short, not the empty ones made ahead", async () => {
  const dir = await Deno.makeTempDir({ prefix: "intake-" });
  const intake = new Intake(dir, false);
  try {
    const incoming = path.join(dir, "incoming");
    await Deno.mkdir(incoming);
    // What a kill -9 leaves: the staging files made ahead (empty) and one object being received.
    for (let i = 0; i < 4; i++) {
      await Deno.writeFile(path.join(incoming, `ahead-${i}.part`), new Uint8Array());
    }
    await Deno.writeFile(path.join(incoming, "cut.part"), new Uint8Array(300));
    await Deno.writeFile(path.join(incoming, "kept.MODALITY.dcm"), new Uint8Array(10));
    // The start logs this count as "removed partial objects left in the intake": 4 empty files are none.
    assert.equal(intake.prepare(), 1);
    assert.deepEqual(names(incoming), ["kept.MODALITY.dcm"]);
  } finally {
    await intake.close();
    await Deno.remove(dir, { recursive: true });
  }
});
