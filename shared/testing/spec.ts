/** What the synthetic generator makes: the specs of instances and studies, and its constants. */
import { TransferSyntax } from "../dicom/uids.ts";

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
export const GENERATED_TRANSFER_SYNTAX = TransferSyntax.ExplicitVRLittleEndian;

/** (0002,0012) of generated objects (a UUID-derived UID). */
export const GENERATOR_IMPLEMENTATION_CLASS_UID = "2.25.311541468348385880242027744132483053920";

/** (0002,0013) of generated objects. */
export const GENERATOR_IMPLEMENTATION_VERSION_NAME = "CONDUIT_GEN";
