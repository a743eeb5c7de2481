/**
 * An Explicit VR Big Endian object (retired) sent as Explicit VR Little Endian, WADO-RS's default: its data
 * set re-encoded as a C-STORE to a peer that takes only little endian gets it (shared/dicom
 * bigToLittleEndian: the same elements, values and order, each number byte-swapped by its VR), not decoded
 * and written again by dcmjs, which refuses 1- and 32-bit pixel data and legacy values (a DA of
 * `1997.04.24`) and so left such objects to a 406. Native pixel data of 32 or 64 bits allocated has each
 * sample's bytes reversed, as the frames and bulk data routes give it (conformance.md), where
 * bigToLittleEndian (and DCMTK) swap OW by 16-bit words. Held in memory, 256 MB at most.
 */
import {
  bigToLittleEndian,
  type DataSet,
  encodingOf,
  findElement,
  parseDataSet,
  PIXEL_DATA,
  TransferSyntax,
} from "@conduit/shared/dicom";
import { type ByteSource, readExactly } from "../part10/source.ts";
import { TranscodeError } from "../transcode/mod.ts";

/** The largest data set byte-swapped. */
export const MAX_SWAPPED_BYTES = 256 * 1024 * 1024;

/** The big endian data set in `source` as Explicit VR Little Endian; TranscodeError when it cannot be. */
export async function swappedDataset(source: ByteSource): Promise<Uint8Array> {
  if (source.size > MAX_SWAPPED_BYTES) {
    throw new TranscodeError(
      `the data set (${source.size} bytes) is larger than the ${MAX_SWAPPED_BYTES} swapped`,
    );
  }
  const bytes = await readExactly(source, 0, source.size);
  let parts: Uint8Array[];
  try {
    const { dataset } = parseDataSet(bytes, encodingOf(TransferSyntax.ExplicitVRBigEndian));
    samplesByBitsAllocated(bytes, dataset);
    parts = bigToLittleEndian(bytes, dataset);
  } catch (err) {
    throw new TranscodeError(`the data set cannot be byte-swapped: ${(err as Error).message}`);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}

/**
 * Prepares `bytes` in place so that bigToLittleEndian's swap of the Pixel Data by 16-bit words (OW) gives
 * each sample reversed whole when Bits Allocated is 32 or 64: each sample reversed, then each word, here.
 */
function samplesByBitsAllocated(bytes: Uint8Array, dataset: DataSet): void {
  const pixels = findElement(dataset, PIXEL_DATA);
  const bits = findElement(dataset, 0x00280100);
  if (!pixels || pixels.vr !== "OW" || pixels.length <= 0 || !bits || bits.length !== 2) return;
  const size = ((bytes[bits.valueOffset] << 8) | bytes[bits.valueOffset + 1]) / 8;
  if (size !== 4 && size !== 8) return;
  const value = bytes.subarray(
    pixels.valueOffset,
    pixels.valueOffset + pixels.length - (pixels.length % size),
  );
  for (let at = 0; at < value.length; at += size) value.subarray(at, at + size).reverse();
  for (let at = 0; at < value.length; at += 2) value.subarray(at, at + 2).reverse();
}
