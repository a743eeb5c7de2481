/**
 * An Explicit VR Big Endian object (retired) sent as Explicit VR Little Endian, WADO-RS's default: its data
 * set re-encoded as a C-STORE to a peer that takes only little endian gets it (shared/dicom
 * bigToLittleEndian: the same elements, values and order, each number byte-swapped by its VR), not decoded
 * and written again by dcmjs, which refuses 1- and 32-bit pixel data and legacy values (a DA of
 * `1997.04.24`) and so left such objects to a 406. Pixel Data OW is swapped by 16-bit words whatever
 * Bits Allocated says (PS3.5 8.2; shared/dicom swapWidth), as the frames and bulk data routes and DCMTK
 * give it. Held in memory, 256 MB at most.
 */
import { bigToLittleEndian, encodingOf, parseDataSet, TransferSyntax } from "@conduit/shared/dicom";
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
    parts = bigToLittleEndian(bytes, dataset);
  } catch (err) {
    throw new TranscodeError(`the data set cannot be byte-swapped: ${(err as Error).message}`);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}
