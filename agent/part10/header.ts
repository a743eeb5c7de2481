/**
 * Reads a Part 10 object's header, stopping before the pixel data: it reads a prefix of the object and
 * widens it only when the header runs past it, so a 1 GB object costs a few kilobytes. The pixel data
 * element's own header is taken from the bytes already read whenever they reach it.
 */
import { constants as zlib, inflateRawSync } from "node:zlib";
import {
  type DataSet,
  DicomParseError,
  type Encoding,
  encodingOf,
  parseDataSet,
  type Part10Header,
  PIXEL_DATA,
  readPart10Header,
  TruncatedError,
} from "@conduit/shared/dicom";
import { type ByteSource, openFile, readUpTo, withSource } from "./source.ts";

export interface FileHeader {
  header: Part10Header;
  /** The data set up to (not including) pixel data. */
  dataset: DataSet;
  /** The bytes `dataset` offsets refer to (inflated for deflated files). */
  bytes: Uint8Array;
  fileSize: number;
}

/** Where the pixel data element's value lies, and its VR. */
export interface PixelDataElement {
  vr: string;
  /** Offset of the value in the object. */
  valueOffset: number;
  /** Value length; -1 for encapsulated pixel data (undefined length). */
  length: number;
}

const FIRST_READ = 64 * 1024;
const MAX_HEADER = 64 * 1024 * 1024;

/** Reads and parses the header of the object in `source`; throws DicomParseError when it is not DICOM. */
export async function readHeader(source: ByteSource): Promise<FileHeader> {
  const size = source.size;
  let want = Math.min(FIRST_READ, size);
  for (;;) {
    const bytes = await readUpTo(source, 0, want);
    const complete = bytes.length >= size;
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
}

/** Reads and parses the header of a local file (files named on the command line, tests). */
export function readFileHeader(path: string): Promise<FileHeader> {
  return withSource(openFile(path), readHeader);
}

/** Parses a header from a prefix of a file; throws TruncatedError when the prefix is too short. */
export function parseHeaderBytes(bytes: Uint8Array, fileSize: number, complete: boolean): FileHeader {
  const header = readPart10Header(bytes);
  const encoding = encodingOf(header.transferSyntax);
  if (encoding.deflated) {
    return { header, ...inflatedHeader(bytes.subarray(header.datasetOffset), encoding, complete), fileSize };
  }
  const { dataset } = parseDataSet(bytes, encoding, {
    start: header.datasetOffset,
    stopAtTag: PIXEL_DATA,
    partial: !complete,
  });
  return { header, dataset, bytes, fileSize };
}

/** What a deflated data set's first bytes are inflated to at first: enough for nearly every header. */
const FIRST_INFLATE = 1024 * 1024;
/** Deflate expands at most this many times: so many compressed bytes never inflate past a limit this large. */
const MAX_RATIO = 1032;

/**
 * The header of a deflated data set from its first compressed bytes. They are inflated up to 1 MiB, and more
 * (four times as much each time, up to the 64 MiB a header may have) only while the header runs past what came
 * out: 64 KiB of compressed zeros (the pixel data of a deflated object often deflates that well) would inflate
 * to 64 MiB, and every header read of such an object cost that much memory for a moment (and kept it, in
 * `bytes`, while a received object waited for its group commit).
 */
function inflatedHeader(
  compressed: Uint8Array,
  encoding: Encoding,
  complete: boolean,
): Pick<FileHeader, "dataset" | "bytes"> {
  for (let limit = FIRST_INFLATE;; limit *= 4) {
    const { bytes, cut } = inflatedUpTo(compressed, limit);
    try {
      const { dataset } = parseDataSet(bytes, encoding, { stopAtTag: PIXEL_DATA, partial: !complete || cut });
      return { dataset, bytes };
    } catch (err) {
      if (!(err instanceof TruncatedError) || !cut || limit >= MAX_HEADER) throw err;
    }
  }
}

/**
 * `compressed` inflated (a sync flush: a prefix inflates as far as it goes), or, when that would pass `limit`
 * bytes, as much of it as inflates to at most `limit` (found by doubling the compressed bytes taken from
 * `limit / 1032`, which cannot pass it), with `cut` set.
 */
function inflatedUpTo(compressed: Uint8Array, limit: number): { bytes: Uint8Array; cut: boolean } {
  const inflate = (input: Uint8Array) => {
    try {
      return new Uint8Array(
        inflateRawSync(input, { finishFlush: zlib.Z_SYNC_FLUSH, maxOutputLength: limit }),
      );
    } catch (err) {
      if (err instanceof RangeError) return undefined;
      throw new DicomParseError(`deflated data set does not inflate: ${(err as Error).message}`, 0);
    }
  };
  const whole = inflate(compressed);
  if (whole) return { bytes: whole, cut: false };
  let taken = Math.floor(limit / MAX_RATIO);
  let bytes = inflate(compressed.subarray(0, taken)) ?? new Uint8Array(0);
  while (taken * 2 < compressed.length) {
    const more = inflate(compressed.subarray(0, taken * 2));
    if (!more) break;
    taken *= 2;
    bytes = more;
  }
  return { bytes, cut: true };
}

/**
 * The pixel data element of a deflated object (Explicit VR Little Endian inside the deflate stream), as the
 * inflated bytes its header read holds it: its VR, and its value's offset and length in the inflated data set
 * (not in the file). Undefined when it has none, when the object is not deflated, or when the header read did
 * not inflate as far as the element's 12 header bytes.
 */
export function inflatedPixelData(file: FileHeader): PixelDataElement | undefined {
  if (!encodingOf(file.header.transferSyntax).deflated) return undefined;
  const at = file.dataset.end;
  if (at + 12 > file.bytes.length) return undefined;
  const v = new DataView(file.bytes.buffer, file.bytes.byteOffset + at, 12);
  if (((v.getUint16(0, true) << 16 | v.getUint16(2, true)) >>> 0) !== PIXEL_DATA) return undefined;
  const length = v.getUint32(8, true);
  return {
    vr: String.fromCharCode(file.bytes[at + 4], file.bytes[at + 5]),
    valueOffset: at + 12,
    length: length === 0xffffffff ? -1 : length,
  };
}

/**
 * The pixel data element that follows `file`'s header, if there is one (never for deflated objects,
 * whose offsets are not the file's). Its 12 header bytes come from the bytes the header read already
 * holds; `source` is read only when the header ended exactly where those bytes did.
 */
export async function pixelDataElement(
  file: FileHeader,
  source: ByteSource,
): Promise<PixelDataElement | undefined> {
  const encoding = encodingOf(file.header.transferSyntax);
  if (encoding.deflated) return undefined;
  const at = file.dataset.end;
  const head = at + 12 <= file.bytes.length
    ? file.bytes.subarray(at, at + 12)
    : await readUpTo(source, at, 12);
  if (head.length < 8) return undefined;
  const v = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const le = encoding.littleEndian;
  const tag = (v.getUint16(0, le) << 16 | v.getUint16(2, le)) >>> 0;
  if (tag !== PIXEL_DATA) return undefined;
  if (encoding.explicit) {
    if (head.length < 12) return undefined;
    const length = v.getUint32(8, le);
    return {
      vr: String.fromCharCode(head[4], head[5]),
      valueOffset: at + 12,
      length: length === 0xffffffff ? -1 : length,
    };
  }
  const length = v.getUint32(4, le);
  return { vr: "OW", valueOffset: at + 8, length: length === 0xffffffff ? -1 : length };
}
