/**
 * A synthetic DICOM generator: deterministic CT and MR Image Storage objects in Part 10 format
 * (explicit VR little endian) for tests and benchmarks, so no real or copied data is needed.
 * Everything here is pure computation: no I/O and no imports.
 */

/** The modalities the generator can produce. */
export type GeneratedModality = "CT" | "MR";

/** One instance to generate. Only the identifying fields are required; the rest have defaults. */
export interface InstanceSpec {
  modality: GeneratedModality;
  /** (0010,0010), e.g. `DOE^JANE`. */
  patientName: string;
  /** (0010,0020), e.g. `PAT0001`. */
  patientId: string;
  /** (0010,0030) as YYYYMMDD; default empty. */
  patientBirthDate?: string;
  /** (0010,0040); default empty. */
  patientSex?: "M" | "F" | "O";
  studyInstanceUid: string;
  /** (0008,0020) as YYYYMMDD; default `20240101`. */
  studyDate?: string;
  /** (0008,0030) as HHMMSS; default `080000`. */
  studyTime?: string;
  /** (0020,0010); default `1`. */
  studyId?: string;
  /** (0008,0050); default empty. */
  accessionNumber?: string;
  /** (0008,1030); default `<modality> STUDY`. */
  studyDescription?: string;
  /** (0008,0090); default empty. */
  referringPhysicianName?: string;
  seriesInstanceUid: string;
  /** (0020,0011); default 1. */
  seriesNumber?: number;
  /** (0008,103E); default `<modality> SERIES`. */
  seriesDescription?: string;
  /** (0008,0021); default the study date. */
  seriesDate?: string;
  /** (0008,0031); default the study time. */
  seriesTime?: string;
  /** (0018,0015); default `CHEST` for CT, `HEAD` for MR. */
  bodyPartExamined?: string;
  /** (0020,0052); default derived from the Series Instance UID. */
  frameOfReferenceUid?: string;
  sopInstanceUid: string;
  /** (0020,0013); also shifts the pixel pattern so instances differ. */
  instanceNumber: number;
  /** (0028,0010); default 512. */
  rows?: number;
  /** (0028,0011); default 512. */
  columns?: number;
  /** (0028,0101); default 12. */
  bitsStored?: 12 | 16;
  /**
   * Forces the Pixel Data value length in bytes (even, at most 0xFFFFFFFE). Rows and Columns are then
   * chosen so that Rows × Columns × 2 equals it (as square as possible, each at most 65535) unless the
   * given ones already do; when no such pair exists the given Rows and Columns are kept and the object
   * is not self-consistent (fine for transfer tests, not for validators).
   */
  pixelBytes?: number;
  /** (0008,0070); default `CONDUIT`. */
  manufacturer?: string;
  /** (0008,0080); default `CONDUIT GENERAL HOSPITAL`. */
  institutionName?: string;
}

/** Options of {@link generateStudies}. */
export interface GenerateStudiesOptions {
  /** Everything generated (UIDs, names, dates) is a function of the seed and the indexes. */
  seed: string;
  patients: number;
  studiesPerPatient: number;
  /** The series of every study, in order. */
  series: { modality: GeneratedModality; instances: number }[];
  rows?: number;
  columns?: number;
}

/** The largest chunk {@link generateInstanceChunks} yields. */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

/** Explicit VR Little Endian, the transfer syntax of every generated object. */
export const GENERATED_TRANSFER_SYNTAX = "1.2.840.10008.1.2.1";

/** (0002,0012) of generated objects (a UUID-derived UID). */
export const GENERATOR_IMPLEMENTATION_CLASS_UID = "2.25.311541468348385880242027744132483053920";

/** (0002,0013) of generated objects. */
export const GENERATOR_IMPLEMENTATION_VERSION_NAME = "CONDUIT_GEN";

const SOP_CLASS: Record<GeneratedModality, string> = {
  CT: "1.2.840.10008.5.1.4.1.1.2",
  MR: "1.2.840.10008.5.1.4.1.1.4",
};

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);

/** Maximum value length per value (PS3.5 6.2) for the string VRs used here. */
const MAX_LENGTH: Record<string, number> = {
  AE: 16,
  CS: 16,
  DA: 8,
  DS: 16,
  IS: 12,
  LO: 64,
  PN: 64,
  SH: 16,
  TM: 16,
  UI: 64,
};

const PIXEL_DATA = 0x7fe00010;
/** The pixel pattern repeats every this many values (fits 12 bits stored). */
const PATTERN_PERIOD = 4096;

type Value = string | string[] | number[];

interface Attr {
  tag: number;
  vr: string;
  value: Value;
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** ISO_IR 100 (Latin-1) bytes of a string, padded to even length with `pad`. */
function latin1(text: string, pad: number): Uint8Array {
  const n = text.length;
  const out = new Uint8Array(n + (n & 1));
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`character U+${c.toString(16)} is not in ISO_IR 100: ${text}`);
    out[i] = c;
  }
  if (n & 1) out[n] = pad;
  return out;
}

function valueBytes(attr: Attr): Uint8Array {
  const { vr, value } = attr;
  if (vr === "US" || vr === "UL") {
    const nums = value as number[];
    const size = vr === "US" ? 2 : 4;
    const out = new Uint8Array(nums.length * size);
    const view = new DataView(out.buffer);
    nums.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v >= 2 ** (8 * size)) {
        throw new RangeError(`${tagText(attr.tag)} ${vr} value out of range: ${v}`);
      }
      if (size === 2) view.setUint16(i * 2, v, true);
      else view.setUint32(i * 4, v, true);
    });
    return out;
  }
  if (vr === "OB") return Uint8Array.from(value as number[]);
  const values = typeof value === "string" ? [value] : value as string[];
  const max = MAX_LENGTH[vr];
  if (max !== undefined) {
    for (const v of values) {
      if (v.length > max) throw new RangeError(`${tagText(attr.tag)} ${vr} value longer than ${max}: ${v}`);
    }
  }
  if (vr === "UI") {
    for (const v of values) {
      if (!isValidUid(v)) throw new RangeError(`${tagText(attr.tag)} is not a valid UID: ${v}`);
    }
  }
  return latin1(values.join("\\"), vr === "UI" ? 0 : 0x20);
}

function tagText(tag: number): string {
  const hex = tag.toString(16).toUpperCase().padStart(8, "0");
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

/** The length of one element (header and value) in explicit VR little endian. */
function elementLength(vr: string, valueLength: number): number {
  return (LONG_VRS.has(vr) ? 12 : 8) + valueLength;
}

/** Writes an element header at `at`; returns the offset of the value. */
function writeElementHeader(out: Uint8Array, at: number, tag: number, vr: string, length: number): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint16(at, tag >>> 16, true);
  view.setUint16(at + 2, tag & 0xffff, true);
  out[at + 4] = vr.charCodeAt(0);
  out[at + 5] = vr.charCodeAt(1);
  if (LONG_VRS.has(vr)) {
    view.setUint16(at + 6, 0, true);
    view.setUint32(at + 8, length, true);
    return at + 12;
  }
  if (length > 0xffff) throw new RangeError(`${tagText(tag)} ${vr} value too long: ${length}`);
  view.setUint16(at + 6, length, true);
  return at + 8;
}

/** Encodes elements (sorted here into ascending tag order) one after another. */
function encodeElements(attrs: Attr[]): Uint8Array {
  const sorted = [...attrs].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].tag === sorted[i - 1].tag) throw new Error(`duplicate element ${tagText(sorted[i].tag)}`);
  }
  const values = sorted.map(valueBytes);
  const total = sorted.reduce((n, a, i) => n + elementLength(a.vr, values[i].length), 0);
  const out = new Uint8Array(total);
  let at = 0;
  sorted.forEach((a, i) => {
    at = writeElementHeader(out, at, a.tag, a.vr, values[i].length);
    out.set(values[i], at);
    at += values[i].length;
  });
  return out;
}

/** A decimal string (DS) of at most 16 characters. */
function ds(n: number): string {
  if (!Number.isFinite(n)) throw new RangeError(`DS value is not finite: ${n}`);
  let s = String(n);
  for (let p = 15; s.length > 16 && p > 0; p--) s = String(Number(n.toPrecision(p)));
  return s;
}

/** True for a syntactically valid UID: at most 64 characters, numeric components, no leading zeros. */
export function isValidUid(uid: string): boolean {
  return uid.length > 0 && uid.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(uid);
}

// ---------------------------------------------------------------------------------------------
// Instances

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
 * The pixel pattern: pixel (x, y) of instance n is (x + y + n) mod 4096, a diagonal gradient. Row y is
 * a slice of one periodic table starting at (y + n) mod 4096, so filling is a copy per row.
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
      const v = k % PATTERN_PERIOD;
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

// ---------------------------------------------------------------------------------------------
// Deterministic studies

/** Four independent 32-bit lanes of a multiply-rotate hash with a murmur3 finalizer: 128 bits. */
function hash128(key: string): bigint {
  const seeds = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f];
  const lanes = seeds.map((s) => s ^ key.length);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    for (let l = 0; l < 4; l++) {
      let h = lanes[l] ^ Math.imul(c + l + 1, 0xcc9e2d51);
      h = (h << 13) | (h >>> 19);
      lanes[l] = (Math.imul(h, 5) + 0xe6546b64 + l) | 0;
    }
  }
  // cross the lanes so every output bit depends on all of them
  let [a, b, c, d] = lanes;
  for (let round = 0; round < 2; round++) {
    a = fmix32(a ^ d);
    b = fmix32(b ^ a);
    c = fmix32(c ^ b);
    d = fmix32(d ^ c);
  }
  return [a, b, c, d].reduce((acc, v) => (acc << 32n) | BigInt(v >>> 0), 0n);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * A `2.25.<decimal>` UID (at most 44 characters) that is a pure function of `key`. The 128-bit integer
 * is a version 8 (custom) RFC 9562 UUID, as PS3.5 B.2 expects of 2.25 UIDs.
 */
export function uidFromKey(key: string): string {
  let n = hash128(key);
  n = (n & ~(0xfn << 76n)) | (0x8n << 76n); // version 8
  n = (n & ~(0x3n << 62n)) | (0x2n << 62n); // RFC variant
  return `2.25.${n}`;
}

/** A deterministic integer in [0, n) for a key. */
function pick(key: string, n: number): number {
  return Number(hash128(key) % BigInt(n));
}

const FAMILY = [
  "DOE",
  "ROE",
  "SMITH",
  "MILLER",
  "MUSTERMANN",
  "DUPONT",
  "ROSSI",
  "NOVAK",
  "KOWALSKI",
  "JANSEN",
  "SILVA",
  "TANAKA",
  "NGUYEN",
  "OKAFOR",
  "LARSEN",
  "BROWN",
];
const GIVEN_F = ["JANE", "MARY", "ANNA", "ERIKA", "SOFIA", "MARIE", "LENA", "EMMA", "CLARA", "IDA"];
const GIVEN_M = ["JOHN", "RICHARD", "MAX", "PAUL", "LUCA", "JAN", "OSKAR", "KARL", "TOM", "HUGO"];
const CT_SERIES = ["AXIAL 1.25MM", "THORAX NATIVE", "ABDOMEN PV", "SOFT TISSUE"];
const MR_SERIES = ["T1 SE AX", "T2 TSE AX", "FLAIR AX", "PD SE AX"];
const PHYSICIANS = ["HOUSE^GREGORY", "GREY^MEREDITH", "KILDARE^JAMES", "QUINN^MICHAELA"];

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** YYYYMMDD of a day count since 1970-01-01 (UTC, so independent of the time zone). */
function dateOfDay(day: number): string {
  const d = new Date(day * 86_400_000);
  return `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCDate(), 2)}`;
}

function timeOfSeconds(s: number): string {
  return `${pad(Math.floor(s / 3600), 2)}${pad(Math.floor(s / 60) % 60, 2)}${pad(s % 60, 2)}`;
}

function checkCount(name: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${name} must be an integer >= ${min}: ${n}`);
}

/**
 * Deterministic patients, studies, series and instances: the same options give the same specs (UIDs,
 * names, IDs `PAT0001`…, dates, accession numbers). Instances come patient by patient, study by study,
 * series by series, lazily, so huge collections cost no memory.
 */
export function* generateStudies(opts: GenerateStudiesOptions): Generator<InstanceSpec, void, undefined> {
  checkCount("patients", opts.patients, 0);
  checkCount("studiesPerPatient", opts.studiesPerPatient, 0);
  opts.series.forEach((s, i) => checkCount(`series[${i}].instances`, s.instances, 0));
  const seed = opts.seed;
  const epoch2020 = Date.UTC(2020, 0, 1) / 86_400_000;
  for (let p = 0; p < opts.patients; p++) {
    const pk = `${seed}/patient/${p}`;
    const sex = pick(`${pk}/sex`, 2) === 0 ? "F" : "M";
    const given = sex === "F" ? GIVEN_F : GIVEN_M;
    const middle = pick(`${pk}/middle`, 4) === 0
      ? `^${String.fromCharCode(65 + pick(`${pk}/initial`, 26))}`
      : "";
    const patientName = `${FAMILY[pick(`${pk}/family`, FAMILY.length)]}^${
      given[pick(`${pk}/given`, given.length)]
    }${middle}`;
    const patientId = `PAT${pad(p + 1, 4)}`;
    // born 1935..2004
    const patientBirthDate = dateOfDay(Date.UTC(1935, 0, 1) / 86_400_000 + pick(`${pk}/birth`, 70 * 365));
    for (let s = 0; s < opts.studiesPerPatient; s++) {
      const sk = `${pk}/study/${s}`;
      const studyInstanceUid = uidFromKey(sk);
      const studyDay = epoch2020 + pick(`${sk}/date`, 5 * 365);
      const studyDate = dateOfDay(studyDay);
      const studySeconds = 7 * 3600 + pick(`${sk}/time`, 10 * 3600);
      const accessionNumber = `ACC${pad(p * opts.studiesPerPatient + s + 1, 7)}`;
      const modalities = [...new Set(opts.series.map((x) => x.modality))].join("/");
      const studyDescription = `${modalities} ${s % 2 === 0 ? "ROUTINE" : "FOLLOW-UP"}`;
      const referringPhysicianName = PHYSICIANS[pick(`${sk}/physician`, PHYSICIANS.length)];
      for (let k = 0; k < opts.series.length; k++) {
        const series = opts.series[k];
        const ck = `${sk}/series/${k}`;
        const seriesInstanceUid = uidFromKey(ck);
        const frameOfReferenceUid = uidFromKey(`${ck}/frame-of-reference`);
        const names = series.modality === "CT" ? CT_SERIES : MR_SERIES;
        const seriesTime = timeOfSeconds(Math.min(studySeconds + 300 * k, 86_399));
        for (let i = 0; i < series.instances; i++) {
          yield {
            modality: series.modality,
            patientName,
            patientId,
            patientBirthDate,
            patientSex: sex,
            studyInstanceUid,
            studyDate,
            studyTime: timeOfSeconds(studySeconds),
            studyId: pad(s + 1, 4),
            accessionNumber,
            studyDescription,
            referringPhysicianName,
            seriesInstanceUid,
            seriesNumber: k + 1,
            seriesDescription: names[k % names.length],
            seriesDate: studyDate,
            seriesTime,
            bodyPartExamined: series.modality === "CT" ? "CHEST" : "HEAD",
            frameOfReferenceUid,
            sopInstanceUid: uidFromKey(`${ck}/instance/${i}`),
            instanceNumber: i + 1,
            rows: opts.rows,
            columns: opts.columns,
          };
        }
      }
    }
  }
}
