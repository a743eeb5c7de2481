/** The C-MOVE/C-GET SCP's backend: which archived files an identifier names, and where AEs live. */
import { sql } from "drizzle-orm";
import type { Identifier, NodeAddress, QueryModel, RetrieveHandler } from "../dimse/handlers.ts";
import { DimseStatusError, Status } from "../dimse/handlers.ts";
import type { RawFileInfo } from "../dimse/raw_dataset.ts";
import type { Archive } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import { identifierText, matchCondition } from "../query/matching.ts";

/** Unique keys per level (PS3.4 C.4.2.2.1: hierarchical, unique keys only). */
const KEYS: Record<string, { keyword: string; column: string; kind: "uid" | "text" }[]> = {
  PATIENT: [{ keyword: "PatientID", column: "p.patient_id", kind: "text" }],
  STUDY: [{ keyword: "StudyInstanceUID", column: "i.study_instance_uid", kind: "uid" }],
  SERIES: [{ keyword: "SeriesInstanceUID", column: "i.series_instance_uid", kind: "uid" }],
  IMAGE: [{ keyword: "SOPInstanceUID", column: "i.sop_instance_uid", kind: "uid" }],
};

export class IndexRetrieveHandler implements RetrieveHandler {
  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly nodes: () => NodeAddress[],
  ) {}

  async locate(model: QueryModel, identifier: Identifier, _signal: AbortSignal): Promise<RawFileInfo[]> {
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
        const cond = matchCondition(sql.raw(key.column), key.kind, value);
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
    const rows = await this.db.read.all<{
      path: string;
      dataset_offset: number;
      dataset_size: number;
      transfer_syntax_uid: string;
      sop_class_uid: string;
      sop_instance_uid: string;
    }>(sql`SELECT i.path, i.dataset_offset, i.dataset_size, i.transfer_syntax_uid, i.sop_class_uid,
      i.sop_instance_uid FROM instances i
      JOIN studies st ON st.study_instance_uid = i.study_instance_uid
      JOIN patients p ON p.pk = st.patient_pk
      WHERE i.removed_at IS NULL AND ${sql.join(conditions, sql` AND `)}
      ORDER BY i.study_instance_uid, i.series_instance_uid, CAST(i.instance_number AS INTEGER), i.sop_instance_uid`);
    return rows.map((r) => ({
      path: this.archive.absolute(r.path),
      datasetOffset: r.dataset_offset,
      datasetSize: r.dataset_size,
      transferSyntax: r.transfer_syntax_uid,
      sopClassUid: r.sop_class_uid,
      sopInstanceUid: r.sop_instance_uid,
    }));
  }

  destination(aet: string): NodeAddress | undefined {
    return this.nodes().find((n) => n.aet === aet);
  }
}
