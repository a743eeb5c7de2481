/**
 * The attributes a site's archive (an agent's index) matches C-FIND and QIDO-RS keys on, each at the
 * lowest query level whose rows carry it (PATIENT < STUDY < SERIES < IMAGE). The agent's query code
 * (agent/query/attributes.ts) says how each is matched; the hub says which keys of a QIDO-RS request the
 * archive ignores (PS3.18 CP 1583: an origin server ignores a query parameter it does not support and
 * says so in a Warning), so that a script asking for `ImageType=X` is told it got every instance.
 */

export type QueryLevel = "PATIENT" | "STUDY" | "SERIES" | "IMAGE";

const LEVELS: QueryLevel[] = ["PATIENT", "STUDY", "SERIES", "IMAGE"];

export const ARCHIVE_MATCH_LEVEL: Readonly<Record<string, QueryLevel>> = {
  PatientName: "PATIENT",
  PatientID: "PATIENT",
  IssuerOfPatientID: "PATIENT",
  PatientBirthDate: "PATIENT",
  PatientSex: "PATIENT",
  NumberOfPatientRelatedStudies: "PATIENT",
  NumberOfPatientRelatedSeries: "PATIENT",
  NumberOfPatientRelatedInstances: "PATIENT",
  StudyInstanceUID: "STUDY",
  PatientAge: "STUDY",
  InstitutionName: "STUDY",
  StudyDate: "STUDY",
  StudyTime: "STUDY",
  AccessionNumber: "STUDY",
  ReferringPhysicianName: "STUDY",
  StudyDescription: "STUDY",
  StudyID: "STUDY",
  ModalitiesInStudy: "STUDY",
  SOPClassesInStudy: "STUDY",
  NumberOfStudyRelatedSeries: "STUDY",
  NumberOfStudyRelatedInstances: "STUDY",
  SeriesInstanceUID: "SERIES",
  Modality: "SERIES",
  SeriesNumber: "SERIES",
  SeriesDescription: "SERIES",
  SeriesDate: "SERIES",
  SeriesTime: "SERIES",
  BodyPartExamined: "SERIES",
  NumberOfSeriesRelatedInstances: "SERIES",
  SOPInstanceUID: "IMAGE",
  SOPClassUID: "IMAGE",
  InstanceNumber: "IMAGE",
  AvailableTransferSyntaxUID: "IMAGE",
  Rows: "IMAGE",
  Columns: "IMAGE",
  BitsAllocated: "IMAGE",
  NumberOfFrames: "IMAGE",
};

/** The rank of a level: PATIENT 0 ... IMAGE 3. */
export function queryLevelRank(level: QueryLevel): number {
  return LEVELS.indexOf(level);
}

/**
 * The keys of a query at `level` that ask for a match (a non-empty value) the archive does not make:
 * attributes it does not index, or that only a lower level carries. They are returned empty, if at all.
 */
export function ignoredByArchive(level: QueryLevel, keys: Record<string, string>): string[] {
  const rank = queryLevelRank(level);
  return Object.entries(keys)
    .filter(([keyword, value]) => {
      if (value === "" || value === "*") return false;
      const at = ARCHIVE_MATCH_LEVEL[keyword];
      return at === undefined || queryLevelRank(at) > rank;
    })
    .map(([keyword]) => keyword);
}
