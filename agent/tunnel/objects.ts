/**
 * Objects over the tunnel: an ObjectHeader (UIDs, transfer syntax, size and SHA-256 of the data
 * set) then the data set bytes as records. The sender reads the archived file from the data set's
 * offset and takes the hash the index recorded, so nothing is hashed twice; the receiver writes
 * through the same StoreFileStream a C-STORE uses (its own File Meta group, the data set hashed as
 * it is written) and only then compares size and hash with the header.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type { Channel, ObjectHeader } from "@conduit/shared/tunnel/mod.ts";
import type { RawFileInfo } from "../dimse/raw_dataset.ts";
import { type ReceivedObject, StoreFileStream } from "../dimse/store_stream.ts";

const CHUNK = 256 * 1024;

export class ObjectTransferError extends Error {
  override name = "ObjectTransferError";
}

/** Hashes the data set of an archived file (when the index has no hash for it). */
async function hashDataset(file: RawFileInfo): Promise<string> {
  const hash = createHash("sha256");
  const end = file.datasetOffset + file.datasetSize - 1;
  if (file.datasetSize === 0) return hash.digest("hex");
  for await (
    const c of fs.createReadStream(file.path, { start: file.datasetOffset, end, highWaterMark: CHUNK })
  ) {
    hash.update(c as Uint8Array);
  }
  return hash.digest("hex");
}

/** Sends the data set of an archived file as one object on `channel`. */
export async function sendObjectFile(channel: Channel, file: RawFileInfo): Promise<void> {
  const sha256 = file.sha256 ?? await hashDataset(file);
  await channel.send(
    {
      type: "object",
      sopInstanceUid: file.sopInstanceUid,
      sopClassUid: file.sopClassUid,
      transferSyntax: file.transferSyntax,
      size: file.datasetSize,
      sha256,
    } satisfies ObjectHeader,
  );
  if (file.datasetSize === 0) return;
  const fd = await fs.promises.open(file.path, "r");
  try {
    const buffer = new Uint8Array(Math.min(CHUNK, file.datasetSize));
    let sent = 0;
    while (sent < file.datasetSize) {
      const want = Math.min(buffer.byteLength, file.datasetSize - sent);
      const { bytesRead } = await fd.read(buffer, 0, want, file.datasetOffset + sent);
      if (bytesRead === 0) {
        throw new ObjectTransferError(`the file is shorter than its index says (${file.path})`);
      }
      // sendBytes copies into frames before it resolves, so the buffer can be reused.
      await channel.sendBytes(buffer.subarray(0, bytesRead));
      sent += bytesRead;
    }
  } finally {
    await fd.close();
  }
}

/**
 * Receives the data set the object `header` announced into a Part 10 file at `tempPath`. Throws
 * ObjectTransferError (and removes the file) when the bytes are short, long or do not match the
 * SHA-256.
 */
export async function receiveObjectFile(
  channel: Channel,
  header: ObjectHeader,
  tempPath: string,
  options: { sync: boolean; sourceAet?: string },
): Promise<ReceivedObject> {
  const out = new StoreFileStream(tempPath, {
    sopClassUid: header.sopClassUid,
    sopInstanceUid: header.sopInstanceUid,
    transferSyntax: header.transferSyntax,
    sourceAet: options.sourceAet,
  }, options.sync);
  let received = 0;
  try {
    while (received < header.size) {
      const record = await channel.next();
      if (!record) {
        throw new ObjectTransferError(`the object ended after ${received} of ${header.size} bytes`);
      }
      if (record.kind !== "bytes") throw new ObjectTransferError("a message inside an object's bytes");
      received += record.data.byteLength;
      if (received > header.size) {
        throw new ObjectTransferError(`more bytes than the ${header.size} announced`);
      }
      out.write(record.data);
    }
    await new Promise<void>((resolve, reject) => {
      out.once("finish", resolve);
      out.once("error", reject);
      out.end();
    });
    if (out.failure) throw new ObjectTransferError(`cannot write the object: ${out.failure.message}`);
    const done = out.received;
    if (!done) throw new ObjectTransferError("the object was not written");
    if (done.datasetSha256 !== header.sha256) {
      throw new ObjectTransferError("the bytes do not match their SHA-256");
    }
    return done;
  } catch (err) {
    out.destroy();
    await fs.promises.rm(tempPath, { force: true });
    throw err;
  }
}
