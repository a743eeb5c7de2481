/**
 * Which index column answers which attribute at which query level, and how it matches. Used by
 * C-FIND here and by QIDO-RS later.
 */
import type { MatchKind } from "./matching.ts";

export type Level = "PATIENT" | "STUDY" | "SERIES" | "IMAGE";

export interface QueryAttribute {
  keyword: string;
  /** SQL expression over the aliases p (patients), st (studies), se (series), i (instances). */
  column: string;
  kind: MatchKind;
  /** The lowest level whose rows carry it (PATIENT < STUDY < SERIES < IMAGE). */
  level: Level;
  /** Returned as a number (IS/US/UL VRs). */
  numeric?: boolean;
  /** Returned as a list (multi-valued). */
  multi?: boolean;
}

const LEVEL_ORDER: Level[] = ["PATIENT", "STUDY", "SERIES", "IMAGE"];

export function levelRank(level: Level): number {
  return LEVEL_ORDER.indexOf(level);
}

const QUERY_ATTRIBUTES: QueryAttribute[] = [
  { keyword: "PatientName", column: "p.patient_name", kind: "pn", level: "PATIENT" },
  { keyword: "PatientID", column: "p.patient_id", kind: "text", level: "PATIENT" },
  { keyword: "IssuerOfPatientID", column: "p.issuer_of_patient_id", kind: "text", level: "PATIENT" },
  { keyword: "PatientBirthDate", column: "p.patient_birth_date", kind: "date", level: "PATIENT" },
  { keyword: "PatientSex", column: "p.patient_sex", kind: "code", level: "PATIENT" },
  {
    keyword: "NumberOfPatientRelatedStudies",
    column: "p.num_studies",
    kind: "number",
    level: "PATIENT",
    numeric: true,
  },
  {
    keyword: "NumberOfPatientRelatedSeries",
    column: "p.num_series",
    kind: "number",
    level: "PATIENT",
    numeric: true,
  },
  {
    keyword: "NumberOfPatientRelatedInstances",
    column: "p.num_instances",
    kind: "number",
    level: "PATIENT",
    numeric: true,
  },
  { keyword: "StudyInstanceUID", column: "st.study_instance_uid", kind: "uid", level: "STUDY" },
  { keyword: "StudyDate", column: "st.study_date", kind: "date", level: "STUDY" },
  { keyword: "StudyTime", column: "st.study_time", kind: "time", level: "STUDY" },
  { keyword: "AccessionNumber", column: "st.accession_number", kind: "text", level: "STUDY" },
  { keyword: "ReferringPhysicianName", column: "st.referring_physician_name", kind: "pn", level: "STUDY" },
  { keyword: "StudyDescription", column: "st.study_description", kind: "text", level: "STUDY" },
  { keyword: "StudyID", column: "st.study_id", kind: "text", level: "STUDY" },
  {
    keyword: "ModalitiesInStudy",
    column: "st.modalities_in_study",
    kind: "list",
    level: "STUDY",
    multi: true,
  },
  {
    keyword: "SOPClassesInStudy",
    column: "st.sop_classes_in_study",
    kind: "list",
    level: "STUDY",
    multi: true,
  },
  {
    keyword: "NumberOfStudyRelatedSeries",
    column: "st.num_series",
    kind: "number",
    level: "STUDY",
    numeric: true,
  },
  {
    keyword: "NumberOfStudyRelatedInstances",
    column: "st.num_instances",
    kind: "number",
    level: "STUDY",
    numeric: true,
  },
  { keyword: "SeriesInstanceUID", column: "se.series_instance_uid", kind: "uid", level: "SERIES" },
  { keyword: "Modality", column: "se.modality", kind: "code", level: "SERIES" },
  { keyword: "SeriesNumber", column: "se.series_number", kind: "number", level: "SERIES", numeric: true },
  { keyword: "SeriesDescription", column: "se.series_description", kind: "text", level: "SERIES" },
  { keyword: "SeriesDate", column: "se.series_date", kind: "date", level: "SERIES" },
  { keyword: "SeriesTime", column: "se.series_time", kind: "time", level: "SERIES" },
  { keyword: "BodyPartExamined", column: "se.body_part_examined", kind: "code", level: "SERIES" },
  {
    keyword: "NumberOfSeriesRelatedInstances",
    column: "se.num_instances",
    kind: "number",
    level: "SERIES",
    numeric: true,
  },
  { keyword: "SOPInstanceUID", column: "i.sop_instance_uid", kind: "uid", level: "IMAGE" },
  { keyword: "SOPClassUID", column: "i.sop_class_uid", kind: "uid", level: "IMAGE" },
  { keyword: "InstanceNumber", column: "i.instance_number", kind: "number", level: "IMAGE", numeric: true },
  { keyword: "AvailableTransferSyntaxUID", column: "i.transfer_syntax_uid", kind: "uid", level: "IMAGE" },
];

export const ATTRIBUTE_BY_KEYWORD = new Map(QUERY_ATTRIBUTES.map((a) => [a.keyword, a]));

/** The attributes every response carries at a level (the unique keys of it and above). */
export const UNIQUE_KEYS: Record<Level, string[]> = {
  PATIENT: ["PatientID"],
  STUDY: ["StudyInstanceUID"],
  SERIES: ["StudyInstanceUID", "SeriesInstanceUID"],
  IMAGE: ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"],
};
