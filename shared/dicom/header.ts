/**
 * Reading the attributes the index needs from a parsed header: patient, study, series and
 * instance fields, decoded under the object's character set.
 */
import { type DataSet, type Element, findElement, type Part10Header } from "./reader.ts";
import { TransferSyntax } from "./uids.ts";
import { numberValues, stringValue, TextDecoding } from "./values.ts";

/** The index's view of one object. */
export interface InstanceAttributes {
  patientId: string;
  issuerOfPatientId: string;
  patientName: string;
  patientBirthDate: string;
  patientSex: string;
  /** (0010,1010), of the Patient Study module: the patient's age at this study. */
  patientAge: string;
  studyInstanceUid: string;
  studyDate: string;
  studyTime: string;
  accessionNumber: string;
  referringPhysicianName: string;
  studyDescription: string;
  studyId: string;
  /** (0008,0080), of the General Equipment module (indexed with the study, as QIDO-RS lists it). */
  institutionName: string;
  seriesInstanceUid: string;
  modality: string;
  seriesNumber: string;
  seriesDescription: string;
  seriesDate: string;
  seriesTime: string;
  bodyPartExamined: string;
  sopClassUid: string;
  sopInstanceUid: string;
  instanceNumber: string;
  specificCharacterSet: string;
  /**
   * Image size and frames, for instance-level QIDO-RS and C-FIND (PS3.18 Table 10.6.3-5); null when
   * the object has none (a report), NumberOfFrames also when single-frame objects leave it out.
   */
  rows: number | null;
  columns: number | null;
  bitsAllocated: number | null;
  numberOfFrames: number | null;
}

const T = {
  SpecificCharacterSet: 0x00080005,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  SeriesDate: 0x00080021,
  StudyTime: 0x00080030,
  SeriesTime: 0x00080031,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  ReferringPhysicianName: 0x00080090,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103e,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  IssuerOfPatientID: 0x00100021,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  PatientAge: 0x00101010,
  InstitutionName: 0x00080080,
  BodyPartExamined: 0x00180015,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  StudyID: 0x00200010,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  NumberOfFrames: 0x00280008,
  Rows: 0x00280010,
  Columns: 0x00280011,
  BitsAllocated: 0x00280100,
} as const;

/**
 * Extracts index attributes from a parsed data set (bytes are the buffer the offsets refer to). The
 * header's UIDs stand in for the data set's missing ones; `transferSyntax` (default the header's) gives
 * the byte order of binary values (ingest passes it without the header: it checks the data set's own UIDs).
 */
export function instanceAttributes(
  bytes: Uint8Array,
  dataset: DataSet,
  header?: Part10Header,
  transferSyntax = header?.transferSyntax,
): InstanceAttributes {
  const charsetEl = findElement(dataset, T.SpecificCharacterSet);
  const specificCharacterSet = charsetEl ? stringValue(bytes, charsetEl) : "";
  const decoding = new TextDecoding(specificCharacterSet);
  const get = (tag: number) => {
    const el = findElement(dataset, tag);
    if (!el || el.length <= 0 || el.items) return "";
    return stringValue(bytes, el, decoding);
  };
  const littleEndian = transferSyntax !== TransferSyntax.ExplicitVRBigEndian;
  return {
    patientId: get(T.PatientID),
    issuerOfPatientId: get(T.IssuerOfPatientID),
    patientName: get(T.PatientName),
    patientBirthDate: indexedDate(get(T.PatientBirthDate)),
    patientSex: get(T.PatientSex),
    patientAge: get(T.PatientAge),
    studyInstanceUid: get(T.StudyInstanceUID),
    studyDate: indexedDate(get(T.StudyDate)),
    studyTime: get(T.StudyTime),
    accessionNumber: get(T.AccessionNumber),
    referringPhysicianName: get(T.ReferringPhysicianName),
    studyDescription: get(T.StudyDescription),
    studyId: get(T.StudyID),
    institutionName: get(T.InstitutionName),
    seriesInstanceUid: get(T.SeriesInstanceUID),
    modality: get(T.Modality),
    seriesNumber: get(T.SeriesNumber),
    seriesDescription: get(T.SeriesDescription),
    seriesDate: indexedDate(get(T.SeriesDate)),
    seriesTime: get(T.SeriesTime),
    bodyPartExamined: get(T.BodyPartExamined),
    sopClassUid: get(T.SOPClassUID) || header?.sopClassUid || "",
    sopInstanceUid: get(T.SOPInstanceUID) || header?.sopInstanceUid || "",
    instanceNumber: get(T.InstanceNumber),
    specificCharacterSet,
    rows: unsigned16(bytes, findElement(dataset, T.Rows), littleEndian),
    columns: unsigned16(bytes, findElement(dataset, T.Columns), littleEndian),
    bitsAllocated: unsigned16(bytes, findElement(dataset, T.BitsAllocated), littleEndian),
    numberOfFrames: integerString(bytes, findElement(dataset, T.NumberOfFrames)),
  };
}

/**
 * A date as the index keeps it: YYYYMMDD. A date written before DICOM 3.0 (`yyyy.mm.dd`, which PS3.5
 * Table 6.2-1 asks readers to accept) loses its dots, so that date matching finds it; anything else is kept.
 */
function indexedDate(value: string): string {
  return /^\d{4}\.\d{2}\.\d{2}$/.test(value) ? value.replaceAll(".", "") : value;
}

/**
 * A US value read in place (the receive path indexes every object: no array, no view). UN is read
 * little endian, as the implicit VR it comes from. Null when absent, empty or of another VR.
 */
function unsigned16(bytes: Uint8Array, el: Element | undefined, littleEndian: boolean): number | null {
  if (!el || el.length < 2 || (el.vr !== "US" && el.vr !== "UN")) return null;
  const first = bytes[el.valueOffset];
  const second = bytes[el.valueOffset + 1];
  return littleEndian || el.vr === "UN" ? first | (second << 8) : (first << 8) | second;
}

/** One IS value as a number, read in place; null when absent, empty, several values or not an integer. */
function integerString(bytes: Uint8Array, el: Element | undefined): number | null {
  if (!el || el.length <= 0 || el.items) return null;
  let at = el.valueOffset;
  let end = at + el.length;
  while (at < end && bytes[at] === 0x20) at++;
  while (end > at && (bytes[end - 1] === 0x20 || bytes[end - 1] === 0)) end--;
  if (at < end && bytes[at] === 0x2b) at++; // "+"
  if (at === end || end - at > 12) return null;
  let n = 0;
  for (; at < end; at++) {
    const digit = bytes[at] - 0x30;
    if (digit < 0 || digit > 9) return null;
    n = n * 10 + digit;
  }
  return n;
}

/**
 * A top-level element's value as text, for routing conditions: strings as decoded, binary numbers
 * as decimals, several values joined with `\`; a sequence is "" (present); undefined when absent.
 */
export function elementText(
  bytes: Uint8Array,
  dataset: DataSet,
  tag: number,
  littleEndian = true,
): string | undefined {
  const el = findElement(dataset, tag);
  if (!el) return undefined;
  if (el.items || el.fragments || el.length <= 0) return "";
  if (BINARY_NUMBER_VRS.has(el.vr)) return numberValues(bytes, el, littleEndian).join("\\");
  if (el.vr.startsWith("O") || el.vr === "UN") return "";
  const charsetEl = findElement(dataset, 0x00080005);
  const decoding = new TextDecoding(charsetEl ? stringValue(bytes, charsetEl) : "");
  return stringValue(bytes, el, decoding);
}

const BINARY_NUMBER_VRS = new Set(["US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"]);
