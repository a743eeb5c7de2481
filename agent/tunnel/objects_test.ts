import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { BULK_RECORD, type ObjectHeader, RECORD_ROOM } from "@conduit/shared/tunnel";
import { FileArchive } from "../archive/file_archive.ts";
import type { StoredObject } from "../part10/stored.ts";
import { ObjectTransferError, sendObject, sendObjectAs } from "./objects.ts";
import { Logger } from "@conduit/shared/log";

/** An archived file: a 16-byte stand-in for its File Meta group, then `size` bytes of data set. */
async function archived(size: number) {
  const dir = await Deno.makeTempDir({ prefix: "objects-test-" });
  const archive = new FileArchive(dir, false);
  const dataset = new Uint8Array(size);
  for (let i = 0; i < size; i++) dataset[i] = (i * 31 + 7) & 0xff;
  const key = "archive/1.2.3/1.2.3.4/1.2.3.4.5.dcm";
  await Deno.mkdir(path.dirname(path.join(dir, key)), { recursive: true });
  const file = new Uint8Array(16 + size);
  file.set(dataset, 16);
  await Deno.writeFile(path.join(dir, key), file);
  const stored: StoredObject = {
    key,
    datasetOffset: 16,
    datasetSize: size,
    transferSyntax: "1.2.840.10008.1.2.1",
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    sopInstanceUid: "1.2.3.4.5",
    sha256: createHash("sha256").update(dataset).digest("hex"),
  };
  return { dir, archive, key, stored };
}

/** A channel that keeps what is sent. */
function recorder() {
  const headers: ObjectHeader[] = [];
  let bytes = 0;
  return {
    headers,
    sent: () => bytes,
    channel: {
      send: (h: ObjectHeader) => (headers.push(h), Promise.resolve()),
      sendBytes: (d: Uint8Array) => (bytes += d.byteLength, Promise.resolve()),
      next: () => Promise.resolve(null),
    },
  };
}

Deno.test("sendObject() sends an archived object whole, with the SHA-256 its index recorded", async () => {
  const size = 3 * BULK_RECORD + 123;
  const { dir, archive, stored } = await archived(size);
  try {
    const r = recorder();
    await sendObject(r.channel, archive, stored);
    assert.equal(r.sent(), size);
    assert.equal(r.headers[0].sha256, stored.sha256);
    assert.equal(r.headers[0].size, size);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendObject() withholds the last block of an object that changed on disk and throws", async () => {
  const size = 3 * BULK_RECORD + 123;
  const { dir, archive, key, stored } = await archived(size);
  try {
    // One byte of the data set flipped after it was indexed (a disk or a hand that changed it).
    const file = await Deno.open(path.join(dir, key), { read: true, write: true });
    await file.seek(16 + BULK_RECORD + 5, Deno.SeekMode.Start);
    await file.write(new Uint8Array([0x5a ^ (((BULK_RECORD + 5) * 31 + 7) & 0xff)]));
    file.close();
    const r = recorder();
    await assert.rejects(sendObject(r.channel, archive, stored), ObjectTransferError);
    assert.ok(r.sent() < size, `sent ${r.sent()} of ${size} bytes`);
    assert.equal(r.sent(), 3 * BULK_RECORD, "every block but the last");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendObjectAs() refuses to convert an object that changed on disk, sending nothing", async () => {
  const size = 2 * BULK_RECORD + 77;
  // Stored in Implicit VR (asked in Explicit: converted), Big Endian (swapped) and JPEG Baseline (transcoded).
  for (const transferSyntax of ["1.2.840.10008.1.2", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50"]) {
    const { dir, archive, key, stored } = await archived(size);
    try {
      const file = await Deno.open(path.join(dir, key), { read: true, write: true });
      await file.seek(16 + 100, Deno.SeekMode.Start);
      await file.write(new Uint8Array([0xff ^ ((100 * 31 + 7) & 0xff)]));
      file.close();
      const r = recorder();
      // Until 2026-12-07 the conversion's own hash went with it, and the changed object went out whole.
      await assert.rejects(
        sendObjectAs(
          r.channel,
          archive,
          { ...stored, transferSyntax },
          "1.2.840.10008.1.2.1",
          new Logger({ test: "objects" }, "error"),
        ),
        (e: Error) => e instanceof ObjectTransferError && /does not match the SHA-256/.test(e.message),
      );
      assert.equal(r.headers.length, 0, transferSyntax);
      assert.equal(r.sent(), 0, transferSyntax);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("sendObject() with verify: false sends an object that changed on disk whole, for the receiver to refuse", async () => {
  const size = 3 * BULK_RECORD + 123;
  const { dir, archive, key, stored } = await archived(size);
  try {
    const file = await Deno.open(path.join(dir, key), { read: true, write: true });
    await file.seek(16 + 5, Deno.SeekMode.Start);
    await file.write(new Uint8Array([0xa5 ^ ((5 * 31 + 7) & 0xff)]));
    file.close();
    const r = recorder();
    await sendObject(r.channel, archive, stored, undefined, { verify: false });
    assert.equal(r.sent(), size);
    assert.equal(r.headers[0].sha256, stored.sha256, "the hash announced is the index's");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A channel that keeps every byte sent, in place (sendBytesRecord) or as bytes. */
function collector(inPlace: boolean) {
  const headers: ObjectHeader[] = [];
  const parts: Uint8Array[] = [];
  const channel = {
    send: (h: ObjectHeader) => (headers.push(h), Promise.resolve()),
    sendBytes: (d: Uint8Array) => (parts.push(d.slice()), Promise.resolve()),
    next: () => Promise.resolve(null),
    ...(inPlace
      ? { sendBytesRecord: (r: Uint8Array) => (parts.push(r.slice(RECORD_ROOM)), Promise.resolve()) }
      : {}),
  };
  const bytes = () => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) out.set(p, at), at += p.byteLength;
    return out;
  };
  return { channel, headers, parts, bytes };
}

/** Sizes of unhashed objects to send (below, at and above a record's multiple; empty), in place or not. */
const UNHASHED: [number, boolean][] = [
  [3 * BULK_RECORD + 123, true],
  [3 * BULK_RECORD + 123, false],
  [5 * BULK_RECORD + 7, true],
  [0, true],
];
for (const [size, inPlace] of UNHASHED) {
  Deno.test(`sendObject() hashes an unhashed object of ${size} bytes, announces and reports the hash, sends it whole (${inPlace ? "records in place" : "as bytes"})`, async () => {
    const { dir, archive, stored } = await archived(size);
    try {
      const expected = stored.sha256;
      const c = collector(inPlace);
      const hashed: string[] = [];
      await sendObject(c.channel, archive, { ...stored, sha256: "" }, (h) => hashed.push(h));
      assert.deepEqual(hashed, [expected]);
      assert.equal(c.headers[0].sha256, expected);
      assert.equal(c.headers[0].size, size);
      const got = c.bytes();
      assert.equal(got.byteLength, size);
      assert.equal(createHash("sha256").update(got).digest("hex"), expected);
      assert.ok(c.parts.every((p) => p.byteLength <= BULK_RECORD));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("sendObject() refuses an unhashed object of another size than its index says, sending nothing", async () => {
  const size = 2 * BULK_RECORD;
  const { dir, archive, stored } = await archived(size);
  try {
    const c = collector(true);
    await assert.rejects(
      sendObject(c.channel, archive, { ...stored, sha256: "", datasetSize: size + 10 }),
      /the archived object changed size/,
    );
    assert.equal(c.headers.length, 0);
    assert.equal(c.parts.length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
