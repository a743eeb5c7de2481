/**
 * An Explicit VR Big Endian object (retired) sent as Explicit VR Little Endian, WADO-RS's default: its data
 * set re-encoded as a C-STORE to a peer that takes only little endian gets it (shared/dicom
 * bigToLittleEndian: the same elements, values and order, each number byte-swapped by its VR), not decoded
 * and written again by dcmjs, which refuses 1- and 32-bit pixel data and legacy values (a DA of
 * `1997.04.24`) and so left such objects to a 406. Pixel Data OW is swapped by 16-bit words whatever
 * Bits Allocated says (PS3.5 8.2; shared/dicom swapWidth), as the frames and bulk data routes and DCMTK
 * give it. Held in memory, 256 MB at most.
 */
import {
  bigToLittleEndian,
  encodingOf,
  explicitToImplicit,
  parseDataSet,
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
    parts = bigToLittleEndian(bytes, dataset);
  } catch (err) {
    throw new TranscodeError(`the data set cannot be byte-swapped: ${(err as Error).message}`);
  }
  return joined(parts);
}

/**
 * An Explicit VR Little Endian data set (a swapped one) as Implicit VR Little Endian: each element header
 * rewritten, values copied, as the DIMSE path re-encodes it for a peer that takes only Implicit VR
 * (dcmjs-codecs, which did it before, refuses 32 bits allocated). TranscodeError when it cannot be.
 */
export function implicitOf(explicit: Uint8Array): Uint8Array {
  try {
    const { dataset } = parseDataSet(explicit, encodingOf(TransferSyntax.ExplicitVRLittleEndian));
    return joined(explicitToImplicit(explicit, dataset));
  } catch (err) {
    throw new TranscodeError(`the data set cannot be written in Implicit VR: ${(err as Error).message}`);
  }
}

function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.byteLength;
  return out;
}
