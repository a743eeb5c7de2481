/**
 * Metadata and bulk data of archived instances for the hub's WADO-RS: the DICOM JSON of each
 * header (read up to the pixel data, never the pixel data itself), and one bulk value's bytes.
 */
import {
  type DataSet,
  datasetToJson,
  type DicomJson,
  type Element,
  encodingOf,
  PIXEL_DATA,
  tagHex,
} from "@conduit/shared/dicom";
import { pixelDataElement, readHeader } from "../part10/header.ts";
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
  const pixels = await pixelDataElement(file, source);
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

/** Where a bulk value lies in an archived object (native values only). */
export async function bulkValue(
  source: ByteSource,
  tagPath: string,
): Promise<{ offset: number; length: number }> {
  const file = await readHeader(source);
  const encoding = encodingOf(file.header.transferSyntax);
  if (encoding.deflated) throw new BulkDataError("bulk data of deflated objects is not served");
  if (tagPath === tagHex(PIXEL_DATA)) {
    const pixels = await pixelDataElement(file, source);
    if (!pixels) throw new BulkDataError("the instance has no pixel data");
    if (pixels.length < 0) {
      throw new BulkDataError("encapsulated pixel data is served by frame (not built yet)");
    }
    return { offset: pixels.valueOffset, length: pixels.length };
  }
  const el = walk(file.dataset, tagPath.split("/"));
  if (!el || el.length < 0) throw new BulkDataError(`no bulk value at ${tagPath}`);
  return { offset: el.valueOffset, length: el.length };
}
