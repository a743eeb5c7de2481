/**
 * The archive's objects (index rows with a file: not removed, path set) and their bytes, as the triggers of
 * index migration 0011 keep them in `archive_totals`: `/healthz` and retention by size read them here rather
 * than summing every instance row (half a second at 3 million).
 */
import type { Database } from "./db.ts";

export async function archiveTotals(
  db: Pick<Database, "query">,
): Promise<{ objects: number; bytes: number }> {
  const [row] = await db.query<{ objects: number; bytes: number }>(
    "SELECT objects, bytes FROM archive_totals WHERE id = 1",
  );
  return { objects: Number(row?.objects ?? 0), bytes: Number(row?.bytes ?? 0) };
}
