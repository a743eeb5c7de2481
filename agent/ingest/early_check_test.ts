/**
 * A C-STORE's header is checked as soon as its bytes up to the pixel data are in (`StoreFileStream.onHead`),
 * while the rest arrives; what the last byte shows still decides. Real archive, intake and libsql file;
 * one generated object written in fragments as the wire layer writes them.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { Logger } from "@conduit/shared/log";
import { Status } from "../dimse/handlers.ts";
import { ingestRig } from "./testing.ts";

/** Writes `bytes` in 16 KiB fragments into a fresh sink of the rig's ingest, counting its onHead calls. */
async function storeInFragments(
  rig: Awaited<ReturnType<typeof ingestRig>>,
  bytes: Uint8Array,
  sopInstanceUid?: string,
) {
  const ctx = { ...rig.ctx, ...(sopInstanceUid ? { sopInstanceUid } : {}) };
  const sink = rig.ingest.open(ctx);
  const onHead = sink.onHead;
  let heads = 0;
  sink.onHead = (head) => {
    heads++;
    onHead?.(head);
  };
  for (let at = 0; at < bytes.length; at += 16384) sink.write(bytes.subarray(at, at + 16384));
  sink.end();
  await once(sink, "finish");
  const outcome = await rig.ingest.commit(sink, ctx).catch((err) => ({ status: err.status as number }));
  await rig.ingest.settled();
  return { asked: onHead !== undefined, heads, outcome };
}

Deno.test("an object whose header was checked early is indexed as one checked at the end", async () => {
  const rig = await ingestRig("early-check", false, () => ({}), 128);
  try {
    const { asked, heads, outcome } = await storeInFragments(rig, rig.dataset);
    assert.ok(asked, "the ingest asks for the head");
    assert.equal(heads, 1, "shown once");
    assert.equal(outcome.status, Status.Success);
    const row = rig.db.statement(
      "SELECT study_instance_uid, series_instance_uid, file_size FROM instances WHERE sop_instance_uid = ?",
    ).get(rig.sopInstanceUid);
    assert.ok(row?.study_instance_uid && row?.series_instance_uid, JSON.stringify(row));
    assert.ok(Number(row?.file_size) > rig.dataset.length, "the file's size, not the head's");
  } finally {
    await rig.tearDown();
  }
});

Deno.test("an object cut short after its header passed early is refused as malformed", async () => {
  const rig = await ingestRig("early-cut", false, () => ({}), 128);
  try {
    const { heads, outcome } = await storeInFragments(
      rig,
      rig.dataset.subarray(0, rig.dataset.length - 1000),
    );
    assert.equal(heads, 1);
    assert.equal(outcome.status, Status.CannotUnderstand);
    assert.equal(rig.db.statement("SELECT count(*) AS n FROM instances").get()?.n, 0);
  } finally {
    await rig.tearDown();
  }
});

Deno.test("a data set that differs from its command is refused, and said once in the log", async () => {
  const lines: string[] = [];
  const log = new Logger({}, "info", { write: (line: string) => void lines.push(line) });
  const rig = await ingestRig("early-mismatch", false, () => ({ log }), 128);
  try {
    const { heads, outcome } = await storeInFragments(rig, rig.dataset, "1.2.3.999");
    assert.equal(heads, 1);
    assert.equal(outcome.status, Status.DataSetMismatch);
    assert.equal(
      lines.filter((l) => l.includes("does not match its C-STORE command")).length,
      1,
      lines.join("\n"),
    );
  } finally {
    await rig.tearDown();
  }
});
