/**
 * Metadata and bulk data of archived instances for the hub's WADO-RS: the DICOM JSON of each
 * header (read up to the pixel data, never the pixel data itself), and one bulk value's bytes.
 */
import { datasetToJson, type DicomJson } from "@conduit/shared/dicom/json.ts";
import { type DataSet, type Element, PIXEL_DATA } from "@conduit/shared/dicom/reader.ts";
import { encodingOf } from "@conduit/shared/dicom/uids.ts";
import { tagHex } from "@conduit/shared/dicom/dictionary.ts";
import { pixelDataElement, readFileHeader } from "../archive/header_file.ts";

export class BulkDataError extends Error {
  override name = "BulkDataError";
}

/** The DICOM JSON of an archived file, with bulk values as `bulkdata/<path>` URIs. */
export async function instanceMetadata(path: string): Promise<DicomJson> {
  const file = await readFileHeader(path);
  const encoding = encodingOf(file.header.transferSyntax);
  const json = datasetToJson(file.bytes, file.dataset, {
    littleEndian: encoding.littleEndian,
    bulk: (p) => `bulkdata/${p}`,
  });
  if (!encoding.deflated) {
    const pixels = await pixelDataElement(path, file.dataset.end, encoding.explicit, encoding.littleEndian);
    if (pixels) json[tagHex(PIXEL_DATA)] = { vr: pixels.vr, BulkDataURI: `bulkdata/${tagHex(PIXEL_DATA)}` };
  }
  return json;
}

function walk(ds: DataSet, path: string[]): Element | undefined {
  const tag = parseInt(path[0], 16);
  const el = ds.elements.find((e) => e.tag === tag);
  if (!el || path.length === 1) return el;
  const item = el.items?.[Number(path[1])];
  return item ? walk(item, path.slice(2)) : undefined;
}

/** Where a bulk value lies in an archived file (native values only). */
export async function bulkValue(path: string, tagPath: string): Promise<{ offset: number; length: number }> {
  const file = await readFileHeader(path);
  const encoding = encodingOf(file.header.transferSyntax);
  if (encoding.deflated) throw new BulkDataError("bulk data of deflated objects is not served");
  if (tagPath === tagHex(PIXEL_DATA)) {
    const pixels = await pixelDataElement(path, file.dataset.end, encoding.explicit, encoding.littleEndian);
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
