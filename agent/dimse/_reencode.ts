/**
 * Sending an object to a peer that does not take its stored syntax. Objects go as stored whenever the peer
 * accepted that syntax; otherwise an object stored in Implicit or Explicit VR Little Endian goes in the
 * other one, when the peer accepted that (PS3.5 10.1: every AE supports Implicit VR Little Endian, and many
 * accept nothing else), and a Deflated one goes inflated (the same data set in Explicit VR Little Endian, byte
 * for byte) or, failing that, in Implicit VR; an Explicit VR Big Endian one (retired) goes byte-swapped in
 * Explicit or Implicit VR Little Endian. The data set is re-encoded element by element: the same elements,
 * values and order, each header rewritten, values copied as bytes (big endian numbers swapped by their VR),
 * sequences and items with undefined lengths. A compressed object goes decoded, in Explicit or Implicit VR
 * Little Endian, when a pixel decoder that can decode its syntax is registered (pixel_decoder.ts: the agent
 * registers dcmjs-codecs, as for WADO-RS); otherwise as stored or not at all.
 */
import {
  bigToLittleEndian,
  buildFileMeta,
  encodingOf,
  explicitToImplicit,
  findElement,
  implicitToExplicit,
  numberValues,
  parseDataSet,
  readPart10Header,
  TransferSyntax,
} from "@conduit/shared/dicom";
import type { DatasetReader, OutgoingObject } from "./handlers.ts";
import { inflateRaw } from "node:zlib";
import { pixelDecoder } from "./pixel_decoder.ts";

const {
  ImplicitVRLittleEndian: IMPLICIT,
  ExplicitVRLittleEndian: EXPLICIT,
  DeflatedExplicitVRLittleEndian: DEFLATED,
  ExplicitVRBigEndian: BIG,
} = TransferSyntax;

/** The largest data set re-encoded: it is held in memory meanwhile. */
export const MAX_REENCODE_BYTES = 256 * 1024 * 1024;

/** The syntaxes an object stored in `transferSyntax` can be re-encoded into, best first. */
export function reencodeTargets(transferSyntax: string): string[] {
  if (transferSyntax === EXPLICIT) return [IMPLICIT];
  if (transferSyntax === IMPLICIT) return [EXPLICIT];
  if (transferSyntax === DEFLATED || transferSyntax === BIG) return [EXPLICIT, IMPLICIT];
  if (pixelDecoder()?.canDecode(transferSyntax)) return [EXPLICIT, IMPLICIT];
  return [];
}

/** The syntaxes a fallback presentation context offers for objects stored in these syntaxes. */
export const FALLBACK_SYNTAXES = [EXPLICIT, IMPLICIT];

/** Why an object could not be re-encoded. */
export class ReencodeError extends Error {
  override name = "ReencodeError";
}

/** `item` re-encoded into `to` (one of its {@link reencodeTargets}), held in memory. */
export async function reencoded(item: OutgoingObject, to: string): Promise<OutgoingObject> {
  if (!reencodeTargets(item.transferSyntax).includes(to)) {
    throw new ReencodeError(`cannot re-encode ${item.transferSyntax} as ${to}`);
  }
  if (item.datasetSize > MAX_REENCODE_BYTES) {
    throw new ReencodeError(
      `the data set (${item.datasetSize} bytes) is larger than the ${MAX_REENCODE_BYTES} re-encoded`,
    );
  }
  const reader = await item.openDataset();
  let bytes: Uint8Array;
  try {
    bytes = item.transferSyntax === DEFLATED
      ? await inflateAll(reader, item.datasetSize)
      : await readAll(reader, item.datasetSize);
  } finally {
    await reader.close();
  }
  let parts: Uint8Array[];
  try {
    if (item.transferSyntax === BIG) {
      // Byte-swapped into Explicit VR Little Endian first.
      bytes = concat(bigToLittleEndian(bytes, parseDataSet(bytes, encodingOf(BIG)).dataset));
    } else if (
      item.transferSyntax !== IMPLICIT && item.transferSyntax !== EXPLICIT && item.transferSyntax !== DEFLATED
    ) {
      bytes = await decoded(item, bytes);
    }
    // Inflated, a Deflated data set is an Explicit VR Little Endian one; so is a big endian one swapped.
    const from = item.transferSyntax === IMPLICIT ? IMPLICIT : EXPLICIT;
    const { dataset } = parseDataSet(bytes, encodingOf(from));
    if (from === to) parts = [bytes];
    else if (to === IMPLICIT) parts = explicitToImplicit(bytes, dataset);
    else {
      const number = (tag: number) => {
        const el = findElement(dataset, tag);
        return el ? numberValues(bytes, el, true)[0] : undefined;
      };
      parts = implicitToExplicit(bytes, dataset, {
        pixelRepresentation: number(0x00280103) ?? 0,
        bitsAllocated: number(0x00280100) ?? 16,
      });
    }
  } catch (err) {
    throw new ReencodeError(`the data set cannot be re-encoded: ${(err as Error).message}`);
  }
  const out = concat(parts);
  const memory: DatasetReader = {
    read: (into, position) => {
      const n = Math.max(0, Math.min(into.length, out.length - position));
      into.set(out.subarray(position, position + n));
      return Promise.resolve(n);
    },
    close: () => Promise.resolve(),
  };
  return {
    sopClassUid: item.sopClassUid,
    sopInstanceUid: item.sopInstanceUid,
    transferSyntax: to,
    datasetSize: out.length,
    openDataset: () => Promise.resolve(memory),
  };
}

async function readAll(reader: DatasetReader, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  let got = 0;
  while (got < size) {
    const n = await reader.read(bytes.subarray(got), got);
    if (n <= 0) throw new ReencodeError(`object shorter than its index says (${got} of ${size})`);
    got += n;
  }
  return bytes;
}

/** The inflated data set (in zlib's thread pool), refused past {@link MAX_REENCODE_BYTES}. */
async function inflateAll(reader: DatasetReader, size: number): Promise<Uint8Array> {
  const deflated = await readAll(reader, size);
  try {
    return await new Promise<Uint8Array>((resolve, reject) =>
      inflateRaw(
        deflated,
        { maxOutputLength: MAX_REENCODE_BYTES },
        (err, out) => err ? reject(err) : resolve(out),
      )
    );
  } catch (err) {
    throw new ReencodeError(`the deflated data set does not inflate: ${(err as Error).message}`);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}

/** A compressed data set decoded by the registered pixel decoder: the Explicit VR Little Endian data set. */
async function decoded(item: OutgoingObject, dataset: Uint8Array): Promise<Uint8Array> {
  const decoder = pixelDecoder();
  if (!decoder) throw new ReencodeError(`no decoder for ${item.transferSyntax}`);
  const meta = buildFileMeta({
    sopClassUid: item.sopClassUid,
    sopInstanceUid: item.sopInstanceUid,
    transferSyntax: item.transferSyntax,
  });
  let out: Uint8Array;
  try {
    out = await decoder.decode(concat([meta, dataset]), item.transferSyntax);
  } catch (err) {
    throw new ReencodeError(`the pixel data cannot be decoded: ${(err as Error).message}`);
  }
  const header = readPart10Header(out);
  if (header.transferSyntax !== EXPLICIT) {
    throw new ReencodeError(`the decoder gave ${header.transferSyntax}, not Explicit VR Little Endian`);
  }
  return out.subarray(header.datasetOffset);
}
