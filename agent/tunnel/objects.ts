/**
 * Objects over the tunnel: an ObjectHeader (UIDs, transfer syntax, size and SHA-256 of the data
 * set) then the data set bytes as records. The sender reads the archived object's data set, announces
 * the hash the index recorded and checks the bytes against it as it reads them: the last block goes out
 * only when they match, so the hub passes a retrieve's bytes on without hashing them (no per-byte work
 * on the hub's one thread) and a reader never gets a whole object that changed on disk. The receiver writes
 * through the same StoreFileStream a C-STORE uses (its own File Meta group, the data set hashed as
 * it is written) and only then compares size and hash with the header.
 */
import { createHash } from "node:crypto";
import { type Channel, type ObjectHeader, sendRanges } from "@conduit/shared/tunnel";
import { datasetOf, type StoredObject } from "../part10/stored.ts";
import { type Archive, withObject } from "../archive/archive.ts";
import type { ReceivedObject, StoreFileStream } from "../part10/file_stream.ts";
import {
  explicitHeader,
  findElement,
  implicitToExplicit,
  numberValues,
  PIXEL_DATA,
  readPart10Header,
  TransferSyntax,
} from "@conduit/shared/dicom";
import { hashUid, type Logger } from "@conduit/shared/log";
import { canTranscode, TranscodeError, transcodeObject } from "../transcode/mod.ts";
import { sendInflated } from "./inflated_object.ts";
import { implicitOf, swappedDataset } from "./swapped_object.ts";
import { pixelDataElement, readHeader } from "../part10/header.ts";
import type { ByteSource } from "../part10/source.ts";
import { addRange, sha256Of, ShortObjectError } from "../part10/digest.ts";

/** What sending and receiving an object needs of a channel. */
export interface ObjectChannel {
  send(header: ObjectHeader): Promise<void>;
  sendBytes(data: Uint8Array): Promise<void>;
  next: Channel["next"];
}

export class ObjectTransferError extends Error {
  override name = "ObjectTransferError";
}

/**
 * `source` read from its start to `size`, in order, each block added to a SHA-256: the read that reaches
 * `size` throws ObjectTransferError instead of returning when the bytes do not match `sha256`, so the
 * caller never passes on the last block of an object that is not what the index recorded.
 */
function verified(source: ByteSource, size: number, sha256: string): ByteSource {
  const hash = createHash("sha256");
  let next = 0;
  return {
    size: source.size,
    read: async (into, position) => {
      if (position !== next) throw new ObjectTransferError("a verified object is read in order only");
      const n = await source.read(into, position);
      if (n <= 0) return n;
      hash.update(into.subarray(0, n));
      next += n;
      if (next === size && hash.digest("hex") !== sha256) {
        throw new ObjectTransferError("the archived object does not match the SHA-256 its index recorded");
      }
      return n;
    },
    close: () => source.close(),
  };
}

/**
 * Sends the data set of an archived object, as stored, as one object on `channel`, checked against the
 * SHA-256 the index recorded as it is read (above). An object the index has no hash for yet (received by
 * C-STORE, not yet backfilled: ingest/backfill.ts) is hashed first, and `onHashed` told the hash.
 *
 * `verify: false` skips the check while reading, for a receiver that hashes every byte it takes and
 * refuses a mismatch with the announced hash (another agent: `receiveObject`): its check covers the same
 * bytes, from the disk here to its own, and a second hash here would find nothing more.
 */
export async function sendObject(
  channel: ObjectChannel,
  archive: Archive,
  file: StoredObject,
  onHashed?: (sha256: string) => void,
  { verify = true }: { verify?: boolean } = {},
): Promise<void> {
  await withObject(archive, file.key, async (object) => {
    let dataset = datasetOf(object, file);
    let sha256 = file.sha256;
    if (!sha256) {
      sha256 = await sha256Of(dataset, 0, file.datasetSize);
      onHashed?.(sha256);
    } else if (verify) {
      dataset = verified(dataset, file.datasetSize, sha256);
    }
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
    await sendRanges(channel, dataset, [{ offset: 0, length: file.datasetSize }]);
  });
}

/**
 * Receives the data set the object `header` announced into `out`, a Part 10 file opened for it. Throws
 * ObjectTransferError (and removes the file) when the bytes are short, long or do not match the
 * SHA-256.
 */
export async function receiveObject(
  channel: Pick<ObjectChannel, "next">,
  header: ObjectHeader,
  out: StoreFileStream,
): Promise<ReceivedObject> {
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
      throw new ObjectTransferError(
        "the bytes received do not match the SHA-256 the sender announced (its archived copy may have changed since it was indexed)",
      );
    }
    return done;
  } catch (err) {
    out.destroy();
    out.discard();
    throw err;
  }
}

/**
 * Sends an archived object in `wanted` syntax: Implicit to Explicit VR Little Endian by rewriting
 * element headers (pixels copied as bytes; elements after the pixel data, rare trailing padding, are
 * left out), Deflated to Explicit VR Little Endian by inflating the data set (streaming:
 * inflated_object.ts), Big Endian to Explicit VR Little Endian by byte-swapping (swapped_object.ts) and to
 * Implicit VR Little Endian by the same swap then each header rewritten, as a C-STORE to a peer gets it; any
 * other pair dcmjs-codecs supports by decoding and encoding in the transcoding
 * worker. When none can, the codec fails or the data set does not inflate, the object goes as stored and the hub decides what to answer.
 */
export async function sendObjectAs(
  channel: ObjectChannel,
  archive: Archive,
  file: StoredObject,
  wanted: string | undefined,
  log: Logger,
  onHashed?: (sha256: string) => void,
): Promise<void> {
  if (!wanted || wanted === file.transferSyntax) return await sendObject(channel, archive, file, onHashed);
  await checkStored(archive, file, onHashed);
  if (
    wanted === TransferSyntax.ExplicitVRLittleEndian &&
    file.transferSyntax === TransferSyntax.DeflatedExplicitVRLittleEndian
  ) {
    try {
      return await withObject(
        archive,
        file.key,
        (o) => sendInflated(channel, datasetOf(o, file), file, onHashed),
      );
    } catch (err) {
      if (!(err instanceof TranscodeError)) throw err;
      log.warn("transcode.failed", { sop: hashUid(file.sopInstanceUid), to: wanted, reason: err.message });
      return await sendObject(channel, archive, file, onHashed);
    }
  }
  if (
    (wanted === TransferSyntax.ExplicitVRLittleEndian || wanted === TransferSyntax.ImplicitVRLittleEndian) &&
    file.transferSyntax === TransferSyntax.ExplicitVRBigEndian
  ) {
    try {
      const swapped = await withObject(archive, file.key, (o) => swappedDataset(datasetOf(o, file)));
      const dataset = wanted === TransferSyntax.ExplicitVRLittleEndian ? swapped : implicitOf(swapped);
      return await sendDataset(channel, file, wanted, dataset);
    } catch (err) {
      if (!(err instanceof TranscodeError)) throw err;
      log.warn("transcode.failed", { sop: hashUid(file.sopInstanceUid), to: wanted, reason: err.message });
      return await sendObject(channel, archive, file, onHashed);
    }
  }
  if (
    wanted !== TransferSyntax.ExplicitVRLittleEndian ||
    file.transferSyntax !== TransferSyntax.ImplicitVRLittleEndian
  ) {
    if (!canTranscode(file.transferSyntax, wanted)) return await sendObject(channel, archive, file, onHashed);
    let part10: Uint8Array;
    try {
      part10 = await withObject(archive, file.key, (s) => transcodeObject(s, file.transferSyntax, wanted));
    } catch (err) {
      if (!(err instanceof TranscodeError)) throw err;
      log.warn("transcode.failed", {
        sop: hashUid(file.sopInstanceUid),
        to: wanted,
        reason: err.message,
      });
      return await sendObject(channel, archive, file, onHashed);
    }
    return await sendDatasetBytes(channel, file, part10);
  }
  await withObject(archive, file.key, (source) => sendImplicitAsExplicit(channel, source, file));
}

/**
 * Before an object is converted: its stored data set read whole and checked against the SHA-256 its index
 * recorded (or hashed and `onHashed` told, when it has none), as sendObject checks what it sends as stored.
 * A conversion builds a new data set with a hash of its own, so without this a file changed on disk went
 * out converted and whole (until 2026-12-07: the default WADO-RS of an Implicit VR or Big Endian object, and
 * every transcode). Throws ObjectTransferError before anything is sent.
 */
async function checkStored(
  archive: Archive,
  file: StoredObject,
  onHashed?: (sha256: string) => void,
): Promise<void> {
  const sha256 = await withObject(archive, file.key, (o) => sha256Of(datasetOf(o, file), 0, file.datasetSize))
    .catch((err) => {
      throw err instanceof ShortObjectError
        ? new ObjectTransferError("the archived object is shorter than its index says")
        : err;
    });
  if (!file.sha256) onHashed?.(sha256);
  else if (sha256 !== file.sha256) {
    throw new ObjectTransferError("the archived object does not match the SHA-256 its index recorded");
  }
}

/**
 * Sends an Implicit VR Little Endian object as Explicit VR Little Endian: its element headers rewritten,
 * its pixel data copied as bytes (elements after the pixel data, rare trailing padding, are left out).
 */
async function sendImplicitAsExplicit(channel: ObjectChannel, source: ByteSource, file: StoredObject) {
  const header = await readHeader(source);
  const pixels = await pixelDataElement(header, source);
  const number = (tag: number) => {
    const el = findElement(header.dataset, tag);
    return el ? numberValues(header.bytes, el, true)[0] : undefined;
  };
  const facts = { pixelRepresentation: number(0x00280103) ?? 0, bitsAllocated: number(0x00280100) ?? 16 };
  const head = implicitToExplicit(header.bytes, header.dataset, facts);
  if (pixels) head.push(explicitHeader(PIXEL_DATA, facts.bitsAllocated > 8 ? "OW" : "OB", pixels.length));
  const hash = createHash("sha256");
  let size = 0;
  for (const h of head) hash.update(h), size += h.byteLength;
  const range = pixels ? { offset: pixels.valueOffset, length: pixels.length } : undefined;
  if (range) {
    await addRange(hash, source, range.offset, range.length).catch((err) => {
      throw err instanceof ShortObjectError
        ? new ObjectTransferError("the archived object is shorter than its index says")
        : err;
    });
    size += range.length;
  }
  await channel.send(
    {
      type: "object",
      sopInstanceUid: file.sopInstanceUid,
      sopClassUid: file.sopClassUid,
      transferSyntax: TransferSyntax.ExplicitVRLittleEndian,
      size,
      sha256: hash.digest("hex"),
    } satisfies ObjectHeader,
  );
  const all = new Uint8Array(size - (range?.length ?? 0));
  let at = 0;
  for (const h of head) all.set(h, at), at += h.byteLength;
  await channel.sendBytes(all);
  if (range) await sendRanges(channel, source, [range]);
}

/** Sends a transcoded Part 10 object's data set (its File Meta group is the hub's to write). */
async function sendDatasetBytes(
  channel: ObjectChannel,
  file: StoredObject,
  part10: Uint8Array,
): Promise<void> {
  const meta = readPart10Header(part10);
  await sendDataset(channel, file, meta.transferSyntax!, part10.subarray(meta.datasetOffset));
}

/** Sends a data set made in memory in `transferSyntax` (the hub writes its File Meta group). */
async function sendDataset(
  channel: ObjectChannel,
  file: StoredObject,
  transferSyntax: string,
  dataset: Uint8Array,
): Promise<void> {
  await channel.send(
    {
      type: "object",
      sopInstanceUid: file.sopInstanceUid,
      sopClassUid: file.sopClassUid,
      transferSyntax,
      size: dataset.byteLength,
      sha256: createHash("sha256").update(dataset).digest("hex"),
    } satisfies ObjectHeader,
  );
  await channel.sendBytes(dataset);
}
