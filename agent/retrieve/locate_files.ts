/**
 * The index query behind IndexRetrieveHandler.locate: which held objects a C-MOVE/C-GET identifier names.
 * Loaded with the first retrieve (it builds drizzle `sql`, which an idle agent does not load: issue 16).
 */
import { sql } from "drizzle-orm";
import type { Identifier, OutgoingObject, QueryModel } from "../dimse/handlers.ts";
import { DimseStatusError, Status } from "../dimse/handlers.ts";
import type { Archive } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import { archivedFiles } from "../index/files.ts";
import { identifierText, matchCondition, refuseOverlongKeys } from "../query/matching.ts";

/** Unique keys per level (PS3.4 C.4.2.2.1: hierarchical, unique keys only). */
const KEYS: Record<string, { keyword: string; column: string; kind: "uid" | "text" }[]> = {
  PATIENT: [{ keyword: "PatientID", column: "p.patient_id", kind: "text" }],
  STUDY: [{ keyword: "StudyInstanceUID", column: "i.study_instance_uid", kind: "uid" }],
  SERIES: [{ keyword: "SeriesInstanceUID", column: "i.series_instance_uid", kind: "uid" }],
  IMAGE: [{ keyword: "SOPInstanceUID", column: "i.sop_instance_uid", kind: "uid" }],
};

/** The archived objects `identifier` names; a DimseStatusError (0xA900) when it is not a valid retrieve. */
export async function locateFiles(
  db: Database,
  archive: Archive,
  model: QueryModel,
  identifier: Identifier,
): Promise<OutgoingObject[]> {
  const level = identifierText(identifier.QueryRetrieveLevel).toUpperCase();
  if (!KEYS[level] || (model === "study" && level === "PATIENT")) {
    throw new DimseStatusError(
      Status.DataSetMismatch,
      `QueryRetrieveLevel ${JSON.stringify(level)} not valid`,
    );
  }
  const conditions = [];
  for (const lvl of ["PATIENT", "STUDY", "SERIES", "IMAGE"]) {
    for (const key of KEYS[lvl]) {
      const value = identifierText(identifier[key.keyword]);
      if (!value) continue;
      refuseOverlongKeys({ [key.keyword]: value });
      const cond = matchCondition(sql.raw(key.column), key.kind, value, key.keyword);
      if (cond) conditions.push(cond);
    }
    if (lvl === level) break;
  }
  const own = KEYS[level][0];
  const ownValue = identifierText(identifier[own.keyword]);
  // PS3.4 C.4.2.2.1: unique keys hold a single value or a UID list, never a wildcard.
  if (!ownValue || /[*?]/.test(ownValue) || conditions.length === 0) {
    throw new DimseStatusError(
      Status.DataSetMismatch,
      `${own.keyword} is required at ${level} level, without wildcards`,
    );
  }
  return await archivedFiles(db, archive, sql.join(conditions, sql` AND `));
}
