/**
 * The audit log: who did what and when. Each entry is written atomically with the change it records
 * (`atomically(db, (tx) => [change, entry(tx, ...)])`, db/atomic.ts), so a change never lands without
 * its entry, nor an entry without its change.
 */
import { desc } from "drizzle-orm";
import type { HubDb } from "../db/db.ts";
import { audit } from "../db/schema.ts";

/** The insert of one entry, to run atomically with its change (build it on the same `tx`). */
export function entry(
  db: HubDb,
  actor: string,
  action: string,
  target?: string,
  detail?: Record<string, unknown>,
) {
  return db.insert(audit).values({
    at: Date.now(),
    actor,
    action,
    target: target ?? null,
    detail: detail ? JSON.stringify(detail) : null,
  });
}

export async function recent(db: HubDb, limit = 200, offset = 0) {
  const rows = await db.select().from(audit).orderBy(desc(audit.id)).limit(limit).offset(offset);
  return rows.map((r) => ({
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    target: r.target,
    detail: r.detail ? JSON.parse(r.detail) : null,
  }));
}
