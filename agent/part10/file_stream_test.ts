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
