/**
 * A synthetic DICOM generator: deterministic CT and MR Image Storage objects in Part 10 format
 * (explicit VR little endian) for tests and benchmarks, so no real or copied data is needed.
 * Pure computation: no I/O.
 */
import {
  GENERATED_TRANSFER_SYNTAX,
  type GeneratedModality,
  GENERATOR_IMPLEMENTATION_CLASS_UID,
  GENERATOR_IMPLEMENTATION_VERSION_NAME,
  type InstanceSpec,
  MAX_CHUNK_BYTES,
} from "./spec.ts";
import { type Attr, ds, encodeElements, writeElementHeader } from "./_encode.ts";
import { uidFromKey } from "./studies.ts";

const SOP_CLASS: Record<GeneratedModality, string> = {
  CT: "1.2.840.10008.5.1.4.1.1.2",
  MR: "1.2.840.10008.5.1.4.1.1.4",
};

const PIXEL_DATA = 0x7fe00010;
/** The pixel pattern repeats every this many values (fits 12 bits stored). */
const PATTERN_PERIOD = 4096;
/**
 * Where the pattern starts: stored 864 is -160 HU with the CT's intercept, the low edge of its soft tissue
 * window (40/400), so a viewer shows a generated CT as a gradient from black to white, not all black.
 */
const PATTERN_START = 864;

interface Layout {
  rows: number;
  columns: number;
  pixelBytes: number;
}

/** Rows, Columns and the Pixel Data length for a spec (see {@link InstanceSpec.pixelBytes}). */
function layoutOf(spec: InstanceSpec): Layout {
  const rows = spec.rows ?? 512;
  const columns = spec.columns ?? 512;
  for (const [name, v] of [["rows", rows], ["columns", columns]] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 0xffff) throw new RangeError(`${name} must be 1..65535: ${v}`);
  }
  if (spec.pixelBytes === undefined) return { rows, columns, pixelBytes: rows * columns * 2 };
  const bytes = spec.pixelBytes;
  if (!Number.isInteger(bytes) || bytes < 2 || bytes % 2 !== 0 || bytes > 0xfffffffe) {
    throw new RangeError(`pixelBytes must be an even integer from 2 to 4294967294: ${bytes}`);
  }
  const pixels = bytes / 2;
  if (rows * columns === pixels) return { rows, columns, pixelBytes: bytes };
  // the most square factorization with both factors at most 65535
  for (let c = Math.floor(Math.sqrt(pixels)); c >= 1; c--) {
    if (pixels % c !== 0) continue;
    const r = pixels / c;
    if (r > 0xffff) break;
    return { rows: r, columns: c, pixelBytes: bytes };
  }
  return { rows, columns, pixelBytes: bytes };
}

/** The data set attributes of an instance, Pixel Data excluded. */
function datasetAttributes(spec: InstanceSpec, layout: Layout): Attr[] {
  const ct = spec.modality === "CT";
  if (spec.modality !== "CT" && spec.modality !== "MR") {
    throw new RangeError(`modality must be CT or MR: ${spec.modality}`);
  }
  if (!Number.isInteger(spec.instanceNumber) || spec.instanceNumber < 0) {
    throw new RangeError(`instanceNumber must be a non-negative integer: ${spec.instanceNumber}`);
  }
  const { rows, columns } = layout;
  const bitsStored = spec.bitsStored ?? 12;
  const studyDate = spec.studyDate ?? "20240101";
  const studyTime = spec.studyTime ?? "080000";
  // a 360 mm (CT) or 240 mm (MR) field of view across the larger dimension
  const spacing = (ct ? 360 : 240) / Math.max(rows, columns);
  const thickness = ct ? 1.25 : 4;
  const z = -(spec.instanceNumber - 1) * thickness;
  const x = -(columns * spacing) / 2;
  const y = -(rows * spacing) / 2;
  const attrs: Attr[] = [
    { tag: 0x00080005, vr: "CS", value: "ISO_IR 100" },
    { tag: 0x00080008, vr: "CS", value: ["ORIGINAL", "PRIMARY", ct ? "AXIAL" : "OTHER"] },
    { tag: 0x00080016, vr: "UI", value: SOP_CLASS[spec.modality] },
    { tag: 0x00080018, vr: "UI", value: spec.sopInstanceUid },
    { tag: 0x00080020, vr: "DA", value: studyDate },
    { tag: 0x00080021, vr: "DA", value: spec.seriesDate ?? studyDate },
    { tag: 0x00080023, vr: "DA", value: spec.seriesDate ?? studyDate },
    { tag: 0x00080030, vr: "TM", value: studyTime },
    { tag: 0x00080031, vr: "TM", value: spec.seriesTime ?? studyTime },
    { tag: 0x00080033, vr: "TM", value: spec.seriesTime ?? studyTime },
    { tag: 0x00080050, vr: "SH", value: spec.accessionNumber ?? "" },
    { tag: 0x00080060, vr: "CS", value: spec.modality },
    { tag: 0x00080070, vr: "LO", value: spec.manufacturer ?? "CONDUIT" },
    { tag: 0x00080080, vr: "LO", value: spec.institutionName ?? "CONDUIT GENERAL HOSPITAL" },
    { tag: 0x00080090, vr: "PN", value: spec.referringPhysicianName ?? "" },
    { tag: 0x00081030, vr: "LO", value: spec.studyDescription ?? `${spec.modality} STUDY` },
    { tag: 0x0008103e, vr: "LO", value: spec.seriesDescription ?? `${spec.modality} SERIES` },
    { tag: 0x00081090, vr: "LO", value: "CONDUIT SYNTHETIC" },
    { tag: 0x00100010, vr: "PN", value: spec.patientName },
    { tag: 0x00100020, vr: "LO", value: spec.patientId },
    { tag: 0x00100030, vr: "DA", value: spec.patientBirthDate ?? "" },
    { tag: 0x00100040, vr: "CS", value: spec.patientSex ?? "" },
    { tag: 0x00180015, vr: "CS", value: spec.bodyPartExamined ?? (ct ? "CHEST" : "HEAD") },
    { tag: 0x00180050, vr: "DS", value: ds(thickness) },
    { tag: 0x00185100, vr: "CS", value: "HFS" },
    { tag: 0x0020000d, vr: "UI", value: spec.studyInstanceUid },
    { tag: 0x0020000e, vr: "UI", value: spec.seriesInstanceUid },
    { tag: 0x00200010, vr: "SH", value: spec.studyId ?? "1" },
    { tag: 0x00200011, vr: "IS", value: String(spec.seriesNumber ?? 1) },
    { tag: 0x00200012, vr: "IS", value: "1" },
    { tag: 0x00200013, vr: "IS", value: String(spec.instanceNumber) },
    { tag: 0x00200032, vr: "DS", value: [ds(x), ds(y), ds(z)] },
    { tag: 0x00200037, vr: "DS", value: ["1", "0", "0", "0", "1", "0"] },
    {
      tag: 0x00200052,
      vr: "UI",
      value: spec.frameOfReferenceUid ?? uidFromKey(`${spec.seriesInstanceUid}/frame-of-reference`),
    },
    { tag: 0x00201040, vr: "LO", value: "" },
    { tag: 0x00201041, vr: "DS", value: ds(z) },
    { tag: 0x00280002, vr: "US", value: [1] },
    { tag: 0x00280004, vr: "CS", value: "MONOCHROME2" },
    { tag: 0x00280010, vr: "US", value: [rows] },
    { tag: 0x00280011, vr: "US", value: [columns] },
    { tag: 0x00280030, vr: "DS", value: [ds(spacing), ds(spacing)] },
    { tag: 0x00280100, vr: "US", value: [16] },
    { tag: 0x00280101, vr: "US", value: [bitsStored] },
    { tag: 0x00280102, vr: "US", value: [bitsStored - 1] },
    { tag: 0x00280103, vr: "US", value: [0] },
  ];
  if (ct) {
    attrs.push(
      { tag: 0x00180060, vr: "DS", value: "120" },
      { tag: 0x00181150, vr: "IS", value: "1000" },
      { tag: 0x00181151, vr: "IS", value: "200" },
      { tag: 0x00181210, vr: "SH", value: "STANDARD" },
      // stored 0..4095 with intercept -1024 is -1024..3071 HU; a soft tissue window
      { tag: 0x00281050, vr: "DS", value: "40" },
      { tag: 0x00281051, vr: "DS", value: "400" },
      { tag: 0x00281052, vr: "DS", value: "-1024" },
      { tag: 0x00281053, vr: "DS", value: "1" },
      { tag: 0x00281054, vr: "LO", value: "HU" },
    );
  } else {
    attrs.push(
      { tag: 0x00180020, vr: "CS", value: "SE" },
      { tag: 0x00180021, vr: "CS", value: "NONE" },
      { tag: 0x00180022, vr: "CS", value: "" },
      { tag: 0x00180023, vr: "CS", value: "2D" },
      { tag: 0x00180080, vr: "DS", value: "500" },
      { tag: 0x00180081, vr: "DS", value: "15" },
      { tag: 0x00180083, vr: "DS", value: "1" },
      { tag: 0x00180084, vr: "DS", value: "63.87" },
      { tag: 0x00180087, vr: "DS", value: "1.5" },
      { tag: 0x00180091, vr: "IS", value: "1" },
      { tag: 0x00281050, vr: "DS", value: "2048" },
      { tag: 0x00281051, vr: "DS", value: "4096" },
    );
  }
  return attrs;
}

/** The preamble, `DICM` and group 0002 with its group length. */
function fileMeta(spec: InstanceSpec): Uint8Array {
  const group = encodeElements([
    { tag: 0x00020001, vr: "OB", value: [0, 1] },
    { tag: 0x00020002, vr: "UI", value: SOP_CLASS[spec.modality] },
    { tag: 0x00020003, vr: "UI", value: spec.sopInstanceUid },
    { tag: 0x00020010, vr: "UI", value: GENERATED_TRANSFER_SYNTAX },
    { tag: 0x00020012, vr: "UI", value: GENERATOR_IMPLEMENTATION_CLASS_UID },
    { tag: 0x00020013, vr: "SH", value: GENERATOR_IMPLEMENTATION_VERSION_NAME },
  ]);
  const out = new Uint8Array(132 + 12 + group.length);
  out.set([0x44, 0x49, 0x43, 0x4d], 128); // DICM
  const at = writeElementHeader(out, 132, 0x00020000, "UL", 4);
  new DataView(out.buffer).setUint32(at, group.length, true);
  out.set(group, at + 4);
  return out;
}

/** Everything before the Pixel Data value: file meta, data set and the Pixel Data element header. */
function headerBytes(spec: InstanceSpec, layout: Layout): Uint8Array {
  const meta = fileMeta(spec);
  const dataset = encodeElements(datasetAttributes(spec, layout));
  const out = new Uint8Array(meta.length + dataset.length + 12);
  out.set(meta);
  out.set(dataset, meta.length);
  writeElementHeader(out, meta.length + dataset.length, PIXEL_DATA, "OW", layout.pixelBytes);
  return out;
}

/**
 * The pixel pattern: pixel (x, y) of instance n is (864 + x + y + n) mod 4096, a diagonal gradient. Row y
 * is a slice of one periodic table starting at (y + n) mod 4096, so filling is a copy per row.
 */
class PixelPattern {
  readonly #table: Uint8Array;
  readonly #columns: number;
  readonly #offset: number;

  constructor(columns: number, instanceNumber: number) {
    this.#columns = columns;
    this.#offset = instanceNumber % PATTERN_PERIOD;
    const count = PATTERN_PERIOD + columns;
    this.#table = new Uint8Array(count * 2);
    for (let k = 0; k < count; k++) {
      const v = (PATTERN_START + k) % PATTERN_PERIOD;
      this.#table[2 * k] = v & 0xff;
      this.#table[2 * k + 1] = v >>> 8;
    }
  }

  /** Fills `target` with the little endian pixels starting at pixel index `first`. */
  fill(target: Uint8Array, first: number): void {
    const columns = this.#columns;
    const end = first + (target.length >>> 1);
    let at = 0;
    for (let p = first; p < end;) {
      const y = Math.floor(p / columns);
      const x = p - y * columns;
      const n = Math.min(columns - x, end - p);
      const k = (x + y + this.#offset) % PATTERN_PERIOD;
      target.set(this.#table.subarray(2 * k, 2 * (k + n)), at);
      at += 2 * n;
      p += n;
    }
  }
}

/**
 * A complete Part 10 file in chunks: first everything up to the Pixel Data value, then the pixel data
 * in fresh chunks of at most {@link MAX_CHUNK_BYTES}, so huge objects can be written with bounded memory.
 * Validation errors are thrown by the first `next()`.
 */
export function* generateInstanceChunks(spec: InstanceSpec): Generator<Uint8Array, void, undefined> {
  const layout = layoutOf(spec);
  yield headerBytes(spec, layout);
  const pattern = new PixelPattern(layout.columns, spec.instanceNumber);
  for (let done = 0; done < layout.pixelBytes;) {
    const chunk = new Uint8Array(Math.min(MAX_CHUNK_BYTES, layout.pixelBytes - done));
    pattern.fill(chunk, done / 2);
    done += chunk.length;
    yield chunk;
  }
}

/** The byte length of the file {@link generateInstance} returns for a spec. */
export function instanceByteLength(spec: InstanceSpec): number {
  const layout = layoutOf(spec);
  return headerBytes(spec, layout).length + layout.pixelBytes;
}

/**
 * A complete Part 10 file (preamble, File Meta group, explicit VR little endian data set) in one
 * buffer of its final size; the same bytes as the concatenated {@link generateInstanceChunks}.
 */
export function generateInstance(spec: InstanceSpec): Uint8Array {
  const layout = layoutOf(spec);
  const header = headerBytes(spec, layout);
  const out = new Uint8Array(header.length + layout.pixelBytes);
  out.set(header);
  new PixelPattern(layout.columns, spec.instanceNumber).fill(out.subarray(header.length), 0);
  return out;
}
