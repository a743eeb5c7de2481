/** Archived objects as the wire layer sends them: their key, and what their data set is. */
import { type SQL, sql } from "drizzle-orm";
import { type Archive, archived, type ArchivedObject } from "../archive/archive.ts";
import type { Database } from "./db.ts";

interface FileRow {
  path: string;
  dataset_offset: number;
  dataset_size: number;
  transfer_syntax_uid: string;
  sop_class_uid: string;
  sop_instance_uid: string;
  sha256: string;
  study: string;
  series: string;
  number: number;
}

/** The order objects are listed and sent in: study, series, instance number, SOP Instance UID. */
const ORDER = sql`i.study_instance_uid, i.series_instance_uid, CAST(i.instance_number AS INTEGER),
  i.sop_instance_uid`;

function selectFiles(db: Pick<Database, "read">, where: SQL, limit?: number): Promise<FileRow[]> {
  return db.read.all<FileRow>(sql`SELECT i.path, i.dataset_offset, i.dataset_size, i.transfer_syntax_uid,
      i.sop_class_uid, i.sop_instance_uid, i.sha256, i.study_instance_uid AS study,
      i.series_instance_uid AS series, CAST(i.instance_number AS INTEGER) AS number FROM instances i
      JOIN studies st ON st.study_instance_uid = i.study_instance_uid
      JOIN patients p ON p.pk = st.patient_pk
      WHERE i.removed_at IS NULL AND ${where}
      ORDER BY ${ORDER}${limit === undefined ? sql`` : sql` LIMIT ${limit}`}`);
}

function toArchived(archive: Archive, r: FileRow): ArchivedObject {
  return archived(archive, {
    key: r.path,
    datasetOffset: r.dataset_offset,
    datasetSize: r.dataset_size,
    transferSyntax: r.transfer_syntax_uid,
    sopClassUid: r.sop_class_uid,
    sopInstanceUid: r.sop_instance_uid,
    sha256: r.sha256,
  });
}

/**
 * The held (not removed) instances matching `where`, in study, series and instance order, bound to the
 * archive they are read from. `where` may refer to i (instances), st (studies) and p (patients). Objects
 * answered Success whose group commit is pending are waited for.
 */
export async function archivedFiles(db: Database, archive: Archive, where: SQL): Promise<ArchivedObject[]> {
  await db.caughtUp();
  return (await selectFiles(db, where)).map((r) => toArchived(archive, r));
}

/** Rows {@link eachArchivedFile} reads at once: the first page, and the largest (pages double up to it). */
export const FILE_PAGES = { first: 500, largest: 4000 };

/**
 * archivedFiles one page at a time, for those that send objects as they read them (WADO-RS of a study or
 * series, its metadata): at most `pages.largest` rows are held at once however many the study has (a list of
 * a 20 000-instance study took some 18 MB, held until its last object was sent). Each page starts after the
 * last one's final object in the same order (study, series, instance number, SOP Instance UID: unique), so
 * an object is listed once; one received meanwhile is listed if it sorts after the page being read.
 */
export async function* eachArchivedFile(
  db: Pick<Database, "read" | "caughtUp">,
  archive: Archive,
  where: SQL,
  pages: { first: number; largest: number } = FILE_PAGES,
): AsyncGenerator<ArchivedObject> {
  await db.caughtUp();
  let after: SQL | undefined;
  for (let size = pages.first;; size = Math.min(size * 2, pages.largest)) {
    const rows = await selectFiles(db, after ? sql`${where} AND ${after}` : where, size);
    for (const r of rows) yield toArchived(archive, r);
    if (rows.length < size) return;
    const last = rows[rows.length - 1];
    after = sql`(i.study_instance_uid, i.series_instance_uid, CAST(i.instance_number AS INTEGER),
      i.sop_instance_uid) > (${last.study}, ${last.series}, ${last.number}, ${last.sop_instance_uid})`;
  }
}
