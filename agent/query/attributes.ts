/**
 * Which index column answers which attribute, and how it matches. The level each attribute is matched
 * at is shared with the hub (shared/dicom/archive_keys.ts), which warns of QIDO-RS keys the archive
 * ignores; every attribute here must have one there.
 */
import { ARCHIVE_MATCH_LEVEL, type QueryLevel, queryLevelRank } from "@conduit/shared/dicom";
import type { MatchKind } from "./matching.ts";

export type Level = QueryLevel;

export interface QueryAttribute {
  keyword: string;
  /** SQL expression over the aliases p (patients), st (studies), se (series), i (instances). */
  column: string;
  /**
   * The study's own copy of a patient attribute, answered and matched at the study level and below (`column`
   * is the patient row's, at the patient level): two patients sharing a PatientID (an empty one) are one patient
   * row, whose values are the last stored, while each study keeps what its own objects said.
   */
  studyColumn?: string;
  kind: MatchKind;
  /** The lowest level whose rows carry it (PATIENT < STUDY < SERIES < IMAGE). */
  level: Level;
  /** Returned as a number (IS/US/UL VRs). */
  numeric?: boolean;
  /** Returned as a list (multi-valued). */
  multi?: boolean;
}

export const levelRank = queryLevelRank;

const COLUMNS: Omit<QueryAttribute, "level">[] = [
  { keyword: "PatientName", column: "p.patient_name", kind: "pn", studyColumn: "st.patient_name" },
  { keyword: "PatientID", column: "p.patient_id", kind: "text" },
  { keyword: "IssuerOfPatientID", column: "p.issuer_of_patient_id", kind: "text" },
  {
    keyword: "PatientBirthDate",
    column: "p.patient_birth_date",
    kind: "date",
    studyColumn: "st.patient_birth_date",
  },
  { keyword: "PatientSex", column: "p.patient_sex", kind: "code", studyColumn: "st.patient_sex" },
  {
    keyword: "NumberOfPatientRelatedStudies",
    column: "p.num_studies",
    kind: "number",
    numeric: true,
  },
  {
    keyword: "NumberOfPatientRelatedSeries",
    column: "p.num_series",
    kind: "number",
    numeric: true,
  },
  {
    keyword: "NumberOfPatientRelatedInstances",
    column: "p.num_instances",
    kind: "number",
    numeric: true,
  },
  { keyword: "PatientAge", column: "st.patient_age", kind: "text" },
  { keyword: "InstitutionName", column: "st.institution_name", kind: "text" },
  { keyword: "StudyInstanceUID", column: "st.study_instance_uid", kind: "uid" },
  { keyword: "StudyDate", column: "st.study_date", kind: "date" },
  { keyword: "StudyTime", column: "st.study_time", kind: "time" },
  { keyword: "AccessionNumber", column: "st.accession_number", kind: "text" },
  { keyword: "ReferringPhysicianName", column: "st.referring_physician_name", kind: "pn" },
  { keyword: "StudyDescription", column: "st.study_description", kind: "text" },
  { keyword: "StudyID", column: "st.study_id", kind: "text" },
  {
    keyword: "ModalitiesInStudy",
    column: "st.modalities_in_study",
    kind: "list",
    multi: true,
  },
  {
    keyword: "SOPClassesInStudy",
    column: "st.sop_classes_in_study",
    kind: "list",
    multi: true,
  },
  {
    keyword: "NumberOfStudyRelatedSeries",
    column: "st.num_series",
    kind: "number",
    numeric: true,
  },
  {
    keyword: "NumberOfStudyRelatedInstances",
    column: "st.num_instances",
    kind: "number",
    numeric: true,
  },
  { keyword: "SeriesInstanceUID", column: "se.series_instance_uid", kind: "uid" },
  { keyword: "Modality", column: "se.modality", kind: "code" },
  { keyword: "SeriesNumber", column: "se.series_number", kind: "number", numeric: true },
  { keyword: "SeriesDescription", column: "se.series_description", kind: "text" },
  { keyword: "SeriesDate", column: "se.series_date", kind: "date" },
  { keyword: "SeriesTime", column: "se.series_time", kind: "time" },
  { keyword: "BodyPartExamined", column: "se.body_part_examined", kind: "code" },
  {
    keyword: "NumberOfSeriesRelatedInstances",
    column: "se.num_instances",
    kind: "number",
    numeric: true,
  },
  { keyword: "SOPInstanceUID", column: "i.sop_instance_uid", kind: "uid" },
  { keyword: "SOPClassUID", column: "i.sop_class_uid", kind: "uid" },
  { keyword: "InstanceNumber", column: "i.instance_number", kind: "number", numeric: true },
  { keyword: "AvailableTransferSyntaxUID", column: "i.transfer_syntax_uid", kind: "uid" },
  // Null for objects without them, and for rows indexed before migration 0006: returned empty.
  { keyword: "Rows", column: "i.rows", kind: "number", numeric: true },
  { keyword: "Columns", column: "i.columns", kind: "number", numeric: true },
  { keyword: "BitsAllocated", column: "i.bits_allocated", kind: "number", numeric: true },
  { keyword: "NumberOfFrames", column: "i.number_of_frames", kind: "number", numeric: true },
];

const QUERY_ATTRIBUTES: QueryAttribute[] = COLUMNS.map((a) => {
  const level = ARCHIVE_MATCH_LEVEL[a.keyword];
  if (!level) throw new Error(`${a.keyword} has no level in shared/dicom/archive_keys.ts`);
  return { ...a, level };
});

export const ATTRIBUTE_BY_KEYWORD = new Map(QUERY_ATTRIBUTES.map((a) => [a.keyword, a]));

/** The attributes every response carries at a level (the unique keys of it and above). */
export const UNIQUE_KEYS: Record<Level, string[]> = {
  PATIENT: ["PatientID"],
  STUDY: ["StudyInstanceUID"],
  SERIES: ["StudyInstanceUID", "SeriesInstanceUID"],
  IMAGE: ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
};
