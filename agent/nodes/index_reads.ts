/**
 * NodeOperations' reads of the index, loaded with the first retrieve or store to a node (they build drizzle
 * `sql`, which an idle agent does not load: issue 16).
 */
import { sql } from "drizzle-orm";
import type { Archive, ArchivedObject } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import { archivedFiles } from "../index/files.ts";

/** Which of `uids` (SOP Instance UIDs) the index holds, asked 500 at a time. */
export async function presentUids(db: Database, uids: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < uids.length; i += 500) {
    const chunk = uids.slice(i, i + 500);
    const rows = await db.read.all<{ u: string }>(
      sql`SELECT sop_instance_uid AS u FROM instances WHERE sop_instance_uid IN (${
        sql.join(chunk.map((u) => sql`${u}`), sql`, `)
      })`,
    );
    for (const r of rows) found.add(r.u);
  }
  return found;
}

/** The archived objects of a study, or of these SOP Instance UIDs. */
export async function filesToStore(
  db: Database,
  archive: Archive,
  what: { studyInstanceUid?: string; sopInstanceUids?: string[] },
): Promise<ArchivedObject[]> {
  return await archivedFiles(
    db,
    archive,
    what.studyInstanceUid
      ? sql`i.study_instance_uid = ${what.studyInstanceUid}`
      : sql`i.sop_instance_uid IN (${sql.join((what.sopInstanceUids ?? []).map((u) => sql`${u}`), sql`, `)})`,
  );
}
