/**
 * Metadata and bulk data of archived instances for the hub's WADO-RS: the DICOM JSON of each
 * header (read up to the pixel data, never the pixel data itself), and where one bulk value's bytes lie.
 */
import {
  type DataSet,
  datasetToJson,
  type DicomJson,
  type Element,
  encodingOf,
  PIXEL_DATA,
  swapWidth,
  tagHex,
  videoMediaType,
} from "@conduit/shared/dicom";
import { FragmentError, readFragments } from "../part10/fragments.ts";
import { frameLayout, mismatch } from "../part10/frames.ts";
import { inflatedPixelData, pixelDataElement, readHeader } from "../part10/header.ts";
import type { ByteSource } from "../part10/source.ts";

export class BulkDataError extends Error {
  override name = "BulkDataError";
}

/** The DICOM JSON of an archived object, with bulk values as `bulkdata/<path>` URIs. */
export async function instanceMetadata(source: ByteSource): Promise<DicomJson> {
  const file = await readHeader(source);
  const encoding = encodingOf(file.header.transferSyntax);
  const json = datasetToJson(file.bytes, file.dataset, {
    littleEndian: encoding.littleEndian,
    bulk: (p) => `bulkdata/${p}`,
  });
  // A deflated object's, found in its inflated header (until 2026-12-07 its metadata listed no Pixel Data).
  const pixels = encoding.deflated ? inflatedPixelData(file) : await pixelDataElement(file, source);
  if (pixels) json[tagHex(PIXEL_DATA)] = { vr: pixels.vr, BulkDataURI: `bulkdata/${tagHex(PIXEL_DATA)}` };
  return json;
}

function walk(ds: DataSet, path: string[]): Element | undefined {
  const tag = parseInt(path[0], 16);
  const el = ds.elements.find((e) => e.tag === tag);
  if (!el || path.length === 1) return el;
  const item = el.items?.[Number(path[1])];
  return item ? walk(item, path.slice(2)) : undefined;
}

/** Pieces of the file that make one part of a bulk value, in order. */
export interface BulkPart {
  pieces: { offset: number; length: number }[];
  size: number;
}

/**
 * One native value's bytes in the file; `swap`: the bytes of each of its numbers to reverse, for a big endian
 * object (bulk data is little endian `application/octet-stream`, PS3.18 8.7.3.3.2), 1 when none.
 */
export interface NativeBulkValue {
  offset: number;
  length: number;
  swap: number;
  /** Set for a deflated object's pixel data: `offset` is in its inflated data set, not in the file. */
  inflated?: true;
}

/**
 * Where a bulk value lies in an archived object: one range for a native value; for encapsulated pixel
 * data its transfer syntax and its parts as stored (PS3.18 8.7.3.3.2, 10.4.1.1.3): one per frame, or the
 * whole bitstream (the fragments after the Basic Offset Table, joined) for a video syntax.
 */
export async function bulkValue(
  source: ByteSource,
  tagPath: string,
): Promise<NativeBulkValue | { transferSyntax: string; parts: BulkPart[] }> {
  const file = await readHeader(source);
  const encoding = encodingOf(file.header.transferSyntax);
  if (encoding.deflated) {
    // Native inside the deflate stream (Explicit VR Little Endian): its offsets are the inflated data set's,
    // which is inflated as the value is sent.
    const el = tagPath === tagHex(PIXEL_DATA)
      ? inflatedPixelData(file)
      : walk(file.dataset, tagPath.split("/"));
    if (!el || el.length < 0) {
      throw new BulkDataError(
        tagPath === tagHex(PIXEL_DATA) ? "the instance has no pixel data" : `no bulk value at ${tagPath}`,
      );
    }
    return { offset: el.valueOffset, length: el.length, swap: 1, inflated: true };
  }
  if (tagPath === tagHex(PIXEL_DATA)) {
    const pixels = await pixelDataElement(file, source);
    if (!pixels) throw new BulkDataError("the instance has no pixel data");
    // Fragments under a native syntax, or a native value under an encapsulated one: neither is what the
    // metadata's transfer syntax says this bulk value is (frameLayout refuses the first, this the second).
    const contradiction = mismatch(file.header.transferSyntax, pixels.length < 0);
    if (contradiction) throw new BulkDataError(contradiction);
    if (pixels.length >= 0) {
      // By its VR, as every big endian path swaps it (shared/dicom swapWidth: OW by 16-bit words).
      const swap = encoding.littleEndian ? 1 : swapWidth(pixels.vr);
      return { offset: pixels.valueOffset, length: pixels.length, swap };
    }
    const transferSyntax = file.header.transferSyntax;
    if (!videoMediaType(transferSyntax)) {
      return { transferSyntax, parts: (await frameLayout(source, "all")).frames };
    }
    const [, ...fragments] = await readFragments(source, pixels.valueOffset, encoding.littleEndian)
      .then((r) => r.fragments, (err) => {
        throw err instanceof FragmentError ? new BulkDataError(err.message) : err;
      });
    const pieces = fragments.map((f) => ({ offset: f.valueOffset, length: f.length }));
    return { transferSyntax, parts: [{ pieces, size: pieces.reduce((n, p) => n + p.length, 0) }] };
  }
  const el = walk(file.dataset, tagPath.split("/"));
  if (!el || el.length < 0) throw new BulkDataError(`no bulk value at ${tagPath}`);
  return { offset: el.valueOffset, length: el.length, swap: encoding.littleEndian ? 1 : swapWidth(el.vr) };
}
