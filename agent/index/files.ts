/** Archived objects as the wire layer sends them: their key, and what their data set is. */
import { type SQL, sql } from "drizzle-orm";
import { type Archive, archived, type ArchivedObject } from "../archive/archive.ts";
import type { Database } from "./db.ts";

/**
 * The held (not removed) instances matching `where`, in study, series and instance order, bound to the
 * archive they are read from. `where` may refer to i (instances), st (studies) and p (patients). Objects
 * answered Success whose group commit is pending are waited for.
 */
export async function archivedFiles(db: Database, archive: Archive, where: SQL): Promise<ArchivedObject[]> {
  await db.caughtUp();
  const rows = await db.read.all<{
    path: string;
    dataset_offset: number;
    dataset_size: number;
    transfer_syntax_uid: string;
    sop_class_uid: string;
    sop_instance_uid: string;
    sha256: string;
  }>(sql`SELECT i.path, i.dataset_offset, i.dataset_size, i.transfer_syntax_uid, i.sop_class_uid,
      i.sop_instance_uid, i.sha256 FROM instances i
      JOIN studies st ON st.study_instance_uid = i.study_instance_uid
      JOIN patients p ON p.pk = st.patient_pk
      WHERE i.removed_at IS NULL AND ${where}
      ORDER BY i.study_instance_uid, i.series_instance_uid, CAST(i.instance_number AS INTEGER), i.sop_instance_uid`);
  return rows.map((r) =>
    archived(archive, {
      key: r.path,
      datasetOffset: r.dataset_offset,
      datasetSize: r.dataset_size,
      transferSyntax: r.transfer_syntax_uid,
      sopClassUid: r.sop_class_uid,
      sopInstanceUid: r.sop_instance_uid,
      sha256: r.sha256,
    })
  );
}
