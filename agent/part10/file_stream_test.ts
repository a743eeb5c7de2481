import assert from "node:assert/strict";
import * as path from "node:path";
import { StoreFileStream } from "./file_stream.ts";

const meta = {
  sopClassUid: "1.2.840.10008.5.1.4.1.1.7",
  sopInstanceUid: "1.2.3.4",
  transferSyntax: "1.2.840.10008.1.2.1",
  sourceAet: "MODALITY",
};
/** (0008,0018) UI "1.2.3.4\0" and (0010,0010) PN of `n` bytes: a data set that parses to its end. */
function dataset(n: number, fill: number): Uint8Array {
  const uid = [0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0x08, 0x00, ...new TextEncoder().encode("1.2.3.4\0")];
  const name = [0x10, 0x00, 0x10, 0x00, 0x50, 0x4e, n & 0xff, n >> 8];
  return new Uint8Array([...uid, ...name, ...new Uint8Array(n).fill(fill)]);
}
const finished = (s: StoreFileStream) =>
  new Promise<void>((resolve) => {
    s.once("finish", () => resolve());
    s.once("error", () => resolve());
    s.end();
  });

/** The data set of a generated 256 × 256 CT object whose UIDs come from `key`. */
async function ctDataset(key: string): Promise<Uint8Array> {
  const { generateInstance, uidFromKey } = await import("@conduit/shared/testing");
  const { readPart10Header } = await import("@conduit/shared/dicom");
  const bytes = generateInstance({
    modality: "CT",
    patientName: "HEAD^TEST",
    patientId: "H1",
    studyInstanceUid: uidFromKey(`${key}/study`),
    seriesInstanceUid: uidFromKey(`${key}/series`),
    sopInstanceUid: uidFromKey(`${key}/sop`),
    instanceNumber: 1,
    rows: 256,
    columns: 256,
  });
  return bytes.subarray(readPart10Header(bytes).datasetOffset);
}

for (const made of ["ahead", "by the stream"]) {
  Deno.test(`StoreFileStream never keeps a caller's buffer past write() (file made ${made})`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "file-stream-" });
    try {
      const file = path.join(dir, "object.part");
      const handle = made === "ahead"
        ? await Deno.open(file, { write: true, createNew: true, mode: 0o640 })
        : undefined;
      const stream = new StoreFileStream(file, meta, false, handle);
      const bytes = dataset(1000, 0x41);
      const expected = bytes.slice();
      // The receive path writes views of its read buffers and reuses them once a PDU is processed.
      const shared = new Uint8Array(600);
      for (let at = 0; at < bytes.length; at += 600) {
        const part = bytes.subarray(at, at + 600);
        shared.set(part);
        stream.write(Buffer.from(shared.buffer, 0, part.length));
        shared.fill(0xee);
      }
      await finished(stream);
      assert.ok(stream.received, `received (${stream.failure})`);
      const written = await Deno.readFile(file);
      const datasetStart = written.length - expected.length;
      assert.deepEqual(written.subarray(datasetStart), expected);
      assert.equal(stream.received.datasetSize, expected.length);
      assert.equal(stream.received.malformed, undefined);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("StoreFileStream keeps the head up to just past the start of the pixel data, and it parses", async () => {
  const { parseHeaderBytes } = await import("./header.ts");
  const dataset = await ctDataset("head");
  const dir = await Deno.makeTempDir({ prefix: "file-stream-" });
  try {
    const file = path.join(dir, "object.part");
    const stream = new StoreFileStream(file, meta, false);
    for (let at = 0; at < dataset.length; at += 16384) stream.write(dataset.subarray(at, at + 16384));
    await finished(stream);
    const received = stream.received!;
    assert.ok(received, `received (${stream.failure})`);
    const pixelValueAt = received.fileSize - 256 * 256 * 2;
    // Kept: everything before the pixel data's value and a margin of it; not the 64 KiB it used to keep.
    assert.ok(
      received.head.length > pixelValueAt,
      `head ${received.head.length}, pixel value at ${pixelValueAt}`,
    );
    assert.ok(received.head.length <= pixelValueAt + 256, `head ${received.head.length}`);
    assert.equal(received.headIsWhole, false);
    const written = await Deno.readFile(file);
    assert.deepEqual(received.head, written.subarray(0, received.head.length));
    const parsed = parseHeaderBytes(received.head, received.fileSize, received.headIsWhole);
    assert.equal(parsed.dataset.end, pixelValueAt - 12, "the header parse stops at the Pixel Data element");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StoreFileStream shows the head once, before the end, as soon as it reaches the pixel data", async () => {
  const dataset = await ctDataset("early");
  const dir = await Deno.makeTempDir({ prefix: "file-stream-" });
  try {
    // A file created ahead, as the intake's staging files are: every write lands before write() returns.
    const file = path.join(dir, "object.part");
    const handle = await Deno.open(file, { write: true, createNew: true, mode: 0o640 });
    const stream = new StoreFileStream(file, meta, false, handle);
    const shown: { head: Uint8Array; written: number }[] = [];
    let written = 0;
    stream.onHead = (head) => shown.push({ head: head.slice(), written });
    for (let at = 0; at < dataset.length; at += 16384) {
      stream.write(dataset.subarray(at, at + 16384));
      written = Math.min(dataset.length, at + 16384);
    }
    await finished(stream);
    const received = stream.received!;
    assert.equal(shown.length, 1, "shown once");
    assert.ok(shown[0].written < dataset.length, "before the last fragment");
    assert.deepEqual(shown[0].head, received.head, "the same bytes the end describes");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("StoreFileStream does not show a head that ends before the pixel data, or a data set without it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "file-stream-" });
  try {
    // No Pixel Data at all: the head is only ever described at the end.
    const stream = new StoreFileStream(path.join(dir, "a.part"), meta, false);
    let shown = 0;
    stream.onHead = () => shown++;
    stream.write(dataset(60_000, 0x41));
    await finished(stream);
    assert.equal(stream.received?.malformed, undefined);
    assert.equal(shown, 0);
    // Pixel Data that starts past the kept head (70 000 bytes of names before it): not shown either.
    const far = new StoreFileStream(path.join(dir, "b.part"), meta, false);
    far.onHead = () => shown++;
    const others = [
      0x10,
      0x00,
      0x01,
      0x10,
      0x50,
      0x4e,
      35_000 & 0xff,
      35_000 >> 8,
      ...new Uint8Array(35_000),
    ];
    const pixels = [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0, 8, 0, 0, 0, ...new Uint8Array(8)];
    for (const part of [dataset(35_000, 0x42), new Uint8Array(others), new Uint8Array(pixels)]) {
      far.write(part);
    }
    await finished(far);
    assert.ok(far.received, `received (${far.failure})`);
    assert.equal(far.received.malformed, undefined, String(far.received.malformed));
    assert.equal(shown, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
