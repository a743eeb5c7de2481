import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as path from "node:path";
import { deflateRawSync } from "node:zlib";
import { type ObjectHeader, RECORD_ROOM } from "@conduit/shared/tunnel";
import { TransferSyntax as TS } from "@conduit/shared/dicom";
import { Logger } from "@conduit/shared/log";
import { FileArchive } from "../archive/file_archive.ts";
import type { StoredObject } from "../part10/stored.ts";
import { ObjectTransferError, sendObjectAs } from "./objects.ts";

const quiet = new Logger({}, "error", { write: () => {} });

/** An archived deflated object: a 16-byte stand-in for its File Meta group, then `dataset` as stored. */
async function archived(dataset: Uint8Array, sha256 = createHash("sha256").update(dataset).digest("hex")) {
  const dir = await Deno.makeTempDir({ prefix: "inflated-test-" });
  const key = "archive/1.2.3/1.2.3.4/1.2.3.4.5.dcm";
  await Deno.mkdir(path.dirname(path.join(dir, key)), { recursive: true });
  const file = new Uint8Array(16 + dataset.length);
  file.set(dataset, 16);
  await Deno.writeFile(path.join(dir, key), file);
  const stored: StoredObject = {
    key,
    datasetOffset: 16,
    datasetSize: dataset.length,
    transferSyntax: TS.DeflatedExplicitVRLittleEndian,
    sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
    sopInstanceUid: "1.2.3.4.5",
    sha256,
  };
  return { dir, archive: new FileArchive(dir, false), stored };
}

/** A channel that keeps what is sent, and the largest piece handed to it at once. */
function recorder() {
  const headers: ObjectHeader[] = [];
  const hash = createHash("sha256");
  let bytes = 0, largest = 0;
  return {
    headers,
    sent: () => bytes,
    largest: () => largest,
    digest: () => hash.digest("hex"),
    channel: {
      send: (h: ObjectHeader) => (headers.push(h), Promise.resolve()),
      sendBytes: (d: Uint8Array) => {
        hash.update(d), bytes += d.byteLength, largest = Math.max(largest, d.byteLength);
        return Promise.resolve();
      },
      next: () => Promise.resolve(null),
    },
  };
}

Deno.test("sendObjectAs() inflates a deflated object into Explicit VR Little Endian, a block at a time", async () => {
  // 24 MiB inflated: a run of varied bytes, so that the deflated copy is small but not trivial.
  const plain = new Uint8Array(24 << 20);
  for (let i = 0; i < plain.length; i++) plain[i] = (i * 7 + (i >> 12)) & 0xff;
  const { dir, archive, stored } = await archived(new Uint8Array(deflateRawSync(plain)));
  try {
    const r = recorder();
    await sendObjectAs(r.channel, archive, stored, TS.ExplicitVRLittleEndian, quiet);
    assert.equal(r.headers.length, 1);
    assert.equal(r.headers[0].transferSyntax, TS.ExplicitVRLittleEndian);
    assert.equal(r.headers[0].size, plain.length);
    assert.equal(r.headers[0].sha256, createHash("sha256").update(plain).digest("hex"));
    assert.equal(r.sent(), plain.length);
    assert.equal(r.digest(), r.headers[0].sha256);
    assert.ok(r.largest() <= 256 * 1024 + RECORD_ROOM, `at most a block at once (${r.largest()})`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendObjectAs() sends nothing of a deflated object that is not what its index recorded", async () => {
  const dataset = new Uint8Array(deflateRawSync(new Uint8Array(100_000).fill(3)));
  const { dir, archive, stored } = await archived(dataset, "0".repeat(64));
  try {
    const r = recorder();
    await assert.rejects(
      sendObjectAs(r.channel, archive, stored, TS.ExplicitVRLittleEndian, quiet),
      ObjectTransferError,
    );
    assert.equal(r.headers.length, 0);
    assert.equal(r.sent(), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sendObjectAs() sends a 'deflated' data set that does not inflate as stored", async () => {
  const junk = new Uint8Array(5000).fill(0xff);
  const { dir, archive, stored } = await archived(junk);
  try {
    const r = recorder();
    await sendObjectAs(r.channel, archive, stored, TS.ExplicitVRLittleEndian, quiet);
    assert.equal(r.headers[0].transferSyntax, TS.DeflatedExplicitVRLittleEndian);
    assert.equal(r.sent(), junk.length);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
