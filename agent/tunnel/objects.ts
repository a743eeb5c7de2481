/**
 * Objects over the tunnel: an ObjectHeader (SOP Instance UID, size, SHA-256 of the Part 10 bytes)
 * then the bytes as records. The sender reads the archived file; the receiver writes through the
 * same StoreFileStream a C-STORE uses, checks size and hash against the header, and only then
 * hands the object to the store handler's commit.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type { Channel, ObjectHeader } from "@conduit/shared/tunnel/mod.ts";
import { readPart10Header } from "@conduit/shared/dicom/reader.ts";
import { HEAD_BYTES, type ReceivedObject, StoreFileStream } from "../dimse/store_stream.ts";

const CHUNK = 256 * 1024;
/** Objects up to this size are read once into memory; larger ones are read twice (hash, then send). */
const IN_MEMORY = 16 * 1024 * 1024;

export class ObjectTransferError extends Error {
  override name = "ObjectTransferError";
}

/** Sends the Part 10 file at `file` as one object on `channel`. */
export async function sendObjectFile(channel: Channel, file: string, sopInstanceUid: string): Promise<void> {
  const size = (await fs.promises.stat(file)).size;
  if (size <= IN_MEMORY) {
    const bytes = await fs.promises.readFile(file);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    await channel.send({ type: "object", sopInstanceUid, size, sha256 } satisfies ObjectHeader);
    for (let at = 0; at < size; at += CHUNK) await channel.sendBytes(bytes.subarray(at, at + CHUNK));
    return;
  }
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: CHUNK })) {
    hash.update(chunk as Uint8Array);
  }
  await channel.send(
    { type: "object", sopInstanceUid, size, sha256: hash.digest("hex") } satisfies ObjectHeader,
  );
  let sent = 0;
  for await (const chunk of fs.createReadStream(file, { highWaterMark: CHUNK })) {
    await channel.sendBytes(chunk as Uint8Array);
    sent += (chunk as Uint8Array).byteLength;
  }
  if (sent !== size) {
    throw new ObjectTransferError(`the file changed while being sent (${sent} of ${size} bytes)`);
  }
}

/**
 * Receives the bytes of the object `header` announced into a temporary file at `tempPath`.
 * Throws ObjectTransferError (and removes the file) when the bytes are short, long, not DICOM, or
 * do not match the SHA-256.
 */
export async function receiveObjectFile(
  channel: Channel,
  header: ObjectHeader,
  tempPath: string,
  options: { sync: boolean; sourceAet?: string },
): Promise<ReceivedObject> {
  const hash = createHash("sha256");
  let received = 0;
  const prefix: Uint8Array[] = [];
  let prefixBytes = 0;
  let out: StoreFileStream | undefined;
  const headLimit = Math.min(header.size, HEAD_BYTES);
  try {
    while (received < header.size) {
      const record = await channel.next();
      if (!record) {
        throw new ObjectTransferError(`the object ended after ${received} of ${header.size} bytes`);
      }
      if (record.kind !== "bytes") throw new ObjectTransferError("a message inside an object's bytes");
      const chunk = record.data;
      if (received + chunk.byteLength > header.size) {
        throw new ObjectTransferError(`more bytes than the ${header.size} announced`);
      }
      received += chunk.byteLength;
      hash.update(chunk);
      if (out) {
        out.write(chunk);
        continue;
      }
      prefix.push(chunk.slice());
      prefixBytes += chunk.byteLength;
      if (prefixBytes < headLimit) continue;
      out = openStream(concat(prefix), tempPath, options);
    }
    if (!out) out = openStream(concat(prefix), tempPath, options);
    const digest = hash.digest("hex");
    if (digest !== header.sha256) throw new ObjectTransferError("the bytes do not match their SHA-256");
    const stream = out;
    await new Promise<void>((resolve, reject) => {
      stream.once("finish", resolve);
      stream.once("error", reject);
      stream.end();
    });
    if (stream.failure) throw new ObjectTransferError(`cannot write the object: ${stream.failure.message}`);
    if (!stream.received) throw new ObjectTransferError("the object was not written");
    return stream.received;
  } catch (err) {
    out?.destroy();
    await fs.promises.rm(tempPath, { force: true });
    throw err;
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}

/** Parses the File Meta group from the object's first bytes and starts the archive file with them. */
function openStream(first: Uint8Array, tempPath: string, options: { sync: boolean; sourceAet?: string }) {
  let header;
  try {
    header = readPart10Header(first);
  } catch (err) {
    throw new ObjectTransferError(`not a DICOM Part 10 object: ${(err as Error).message}`);
  }
  if (!header.sopClassUid || !header.sopInstanceUid) {
    throw new ObjectTransferError("the object's File Meta group names no SOP class or instance");
  }
  const stream = new StoreFileStream(tempPath, {
    sopClassUid: header.sopClassUid,
    sopInstanceUid: header.sopInstanceUid,
    transferSyntax: header.transferSyntax,
    sourceAet: options.sourceAet,
  }, options.sync);
  stream.write(first.subarray(header.datasetOffset));
  return stream;
}
