/**
 * A Deflated Explicit VR Little Endian object sent as Explicit VR Little Endian (the default syntax of
 * WADO-RS, PS3.18 8.7.3.5.2): its data set inflated, nothing else changed (the hub writes the File Meta
 * group with the new syntax). Inflated twice, streaming, so memory stays a few blocks whatever the size:
 * once to learn the size and SHA-256 the object header announces, once to send. The second pass is hashed
 * as it goes and its last block held back until it matches the first, so a file that changed between the
 * passes never arrives whole.
 */
import { createHash } from "node:crypto";
import { TransferSyntax } from "@conduit/shared/dicom";
import type { ObjectHeader } from "@conduit/shared/tunnel";
import { addRange } from "../part10/digest.ts";
import { inflated, InflateError } from "../part10/inflate.ts";
import { TranscodeError } from "../transcode/mod.ts";
import type { ByteSource } from "../part10/source.ts";
import type { StoredObject } from "../part10/stored.ts";
import { type ObjectChannel, ObjectTransferError } from "./objects.ts";

/**
 * `source` read in order, each block also added to a SHA-256; `digest` hashes what the reader left
 * unread (zlib may stop before a pad byte after the deflate stream) and gives the hash of all `size`.
 */
function hashing(source: ByteSource, size: number): { source: ByteSource; digest(): Promise<string> } {
  const hash = createHash("sha256");
  let read = 0;
  return {
    source: {
      size: source.size,
      read: async (into, position) => {
        if (position !== read) throw new ObjectTransferError("a hashed object is read in order only");
        const n = await source.read(into, position);
        if (n > 0) hash.update(into.subarray(0, n)), read += n;
        return n;
      },
      close: () => source.close(),
    },
    digest: async () => {
      if (read < size) await addRange(hash, source, read, size - read);
      return hash.digest("hex");
    },
  };
}

/**
 * Sends the deflated data set `dataset` of the archived object `file` inflated, as Explicit VR Little
 * Endian. The stored bytes are checked against the SHA-256 the index recorded before anything is sent (or
 * hashed for it, `onHashed` told, when it has none yet). TranscodeError, before anything is sent, when
 * the data set does not inflate.
 */
export async function sendInflated(
  channel: ObjectChannel,
  dataset: ByteSource,
  file: StoredObject,
  onHashed?: (sha256: string) => void,
): Promise<void> {
  const stored = hashing(dataset, file.datasetSize);
  const first = createHash("sha256");
  let size = 0;
  try {
    for await (const block of inflated(stored.source, file.datasetSize)) {
      first.update(block), size += block.length;
    }
  } catch (err) {
    // Nothing is sent yet: the caller may send the object as stored instead.
    throw err instanceof InflateError ? new TranscodeError(err.message) : err;
  }
  const storedSha = await stored.digest();
  if (!file.sha256) onHashed?.(storedSha);
  else if (storedSha !== file.sha256) {
    throw new ObjectTransferError("the archived object does not match the SHA-256 its index recorded");
  }
  const sha256 = first.digest("hex");
  await channel.send(
    {
      type: "object",
      sopInstanceUid: file.sopInstanceUid,
      sopClassUid: file.sopClassUid,
      transferSyntax: TransferSyntax.ExplicitVRLittleEndian,
      size,
      sha256,
    } satisfies ObjectHeader,
  );
  const second = createHash("sha256");
  let held: Uint8Array | undefined;
  let sent = 0;
  try {
    for await (const block of inflated(dataset, file.datasetSize)) {
      second.update(block);
      if (held) await channel.sendBytes(held), sent += held.length;
      held = block;
    }
  } catch (err) {
    throw err instanceof InflateError
      ? new ObjectTransferError(`the archived object changed: ${err.message}`)
      : err;
  }
  if (sent + (held?.length ?? 0) !== size || second.digest("hex") !== sha256) {
    throw new ObjectTransferError("the archived object changed while it was inflated for sending");
  }
  if (held) await channel.sendBytes(held);
}
