/**
 * Reads a Part 10 file's header, stopping before the pixel data: it reads a prefix of the file and
 * widens it only when the header runs past it, so a 1 GB object costs a few kilobytes.
 */
import * as fs from "node:fs";
import { constants as zlib, inflateRawSync } from "node:zlib";
import {
  type DataSet,
  DicomParseError,
  parseDataSet,
  type Part10Header,
  PIXEL_DATA,
  readPart10Header,
  TruncatedError,
} from "@conduit/shared/dicom/reader.ts";
import { encodingOf } from "@conduit/shared/dicom/uids.ts";

export interface FileHeader {
  header: Part10Header;
  /** The data set up to (not including) pixel data. */
  dataset: DataSet;
  /** The bytes `dataset` offsets refer to (inflated for deflated files). */
  bytes: Uint8Array;
  fileSize: number;
}

const FIRST_READ = 64 * 1024;
const MAX_HEADER = 64 * 1024 * 1024;

/** Reads and parses the header; throws DicomParseError when the file is not DICOM. */
export async function readFileHeader(path: string): Promise<FileHeader> {
  const fh = await fs.promises.open(path, "r");
  try {
    const { size } = await fh.stat();
    let want = Math.min(FIRST_READ, size);
    for (;;) {
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, 0);
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, bytesRead);
      const complete = bytesRead >= size;
      try {
        return parseHeaderBytes(bytes, size, complete);
      } catch (err) {
        if (!(err instanceof TruncatedError) || complete || want >= MAX_HEADER) {
          if (err instanceof TruncatedError) {
            throw new DicomParseError(
              complete ? "file ends inside an element" : "header larger than 64 MiB",
              err.offset,
            );
          }
          throw err;
        }
        want = Math.min(size, want * 4, MAX_HEADER);
      }
    }
  } finally {
    await fh.close();
  }
}

/** Parses a header from a prefix of a file; throws TruncatedError when the prefix is too short. */
export function parseHeaderBytes(bytes: Uint8Array, fileSize: number, complete: boolean): FileHeader {
  const header = readPart10Header(bytes);
  const encoding = encodingOf(header.transferSyntax);
  let body = bytes;
  let start = header.datasetOffset;
  if (encoding.deflated) {
    try {
      body = new Uint8Array(
        inflateRawSync(bytes.subarray(header.datasetOffset), { finishFlush: zlib.Z_SYNC_FLUSH }),
      );
    } catch (err) {
      throw new DicomParseError(`deflated data set does not inflate: ${(err as Error).message}`, start);
    }
    start = 0;
  }
  const { dataset } = parseDataSet(body, encoding, { start, stopAtTag: PIXEL_DATA, partial: !complete });
  return { header, dataset, bytes: body, fileSize };
}

/** Where the pixel data element starts and how long its value is (-1: encapsulated), if present. */
export async function pixelDataElement(path: string, at: number, explicit: boolean, littleEndian: boolean) {
  const fd = await fs.promises.open(path, "r");
  try {
    const head = new Uint8Array(12);
    const { bytesRead } = await fd.read(head, 0, 12, at);
    if (bytesRead < 8) return undefined;
    const v = new DataView(head.buffer);
    const tag = (v.getUint16(0, littleEndian) << 16 | v.getUint16(2, littleEndian)) >>> 0;
    if (tag !== PIXEL_DATA) return undefined;
    if (explicit) {
      const vr = String.fromCharCode(head[4], head[5]);
      const length = v.getUint32(8, littleEndian);
      return { vr, valueOffset: at + 12, length: length === 0xffffffff ? -1 : length };
    }
    const length = v.getUint32(4, littleEndian);
    return { vr: "OW", valueOffset: at + 8, length: length === 0xffffffff ? -1 : length };
  } finally {
    await fd.close();
  }
}
