/**
 * Conflicts: an instance received again with other bytes than the one the index holds. Each is recorded,
 * with the policy applied and, when both were kept, where the second one lies (PS3.4 leaves the choice to
 * the SCP; `archive.duplicates` chooses).
 */
import type { Database } from "./db.ts";

/** What to do with an object received again with other bytes (archive.duplicates). */
export type DuplicatePolicy = "keepFirst" | "keepLast" | "keepBoth";

export interface Conflict {
  storedSha256: string;
  receivedSha256: string;
  policy: DuplicatePolicy;
  /** The archive key of the second object, when both were kept. */
  keptPath?: string;
}

/** Records a conflict; call inside the transaction that changes the instance, if one does. */
export function recordConflictInTransaction(
  db: Database,
  sop: string,
  c: Conflict,
  callingAet: string,
): void {
  db.statement(`INSERT INTO conflicts (sop_instance_uid, stored_sha256, received_sha256, policy, kept_path,
    calling_aet, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    .run(sop, c.storedSha256, c.receivedSha256, c.policy, c.keptPath ?? null, callingAet, Date.now());
}

/** Records a conflict in a transaction of its own. */
export function recordConflict(db: Database, sop: string, c: Conflict, callingAet: string): void {
  db.write(() => recordConflictInTransaction(db, sop, c, callingAet));
}

/** True when `key` is where a conflict kept its second object. */
export function isKeptAside(db: Database, key: string): boolean {
  return Boolean(db.statement("SELECT 1 AS k FROM conflicts WHERE kept_path = ?").get(key));
}

/** A recorded conflict as the CLI, the HTTP API and the hub show it: UIDs, hashes and the AE title only. */
export interface ConflictView {
  id: number;
  sopInstanceUid: string;
  /** SHA-256 of the data set the index kept (keepFirst, keepBoth) or had before (keepLast). */
  storedSha256: string;
  /** SHA-256 of the data set received again. */
  receivedSha256: string;
  policy: DuplicatePolicy;
  /** Under keepBoth: the second object's path, relative to the data directory; else null. */
  keptPath: string | null;
  callingAet: string;
  /** When it was received, ISO 8601 (UTC). */
  receivedAt: string;
}

/** The most conflicts one page lists. */
export const CONFLICTS_PAGE_MAX = 1000;

/** What `listConflicts` reads with: the agent's Database, or a read-only connection of the CLI's own. */
export interface ConflictsSource {
  statement(sql: string): {
    all(...params: unknown[]): Record<string, unknown>[];
    get(...params: unknown[]): Record<string, unknown> | undefined;
  };
}

/**
 * One page of the recorded conflicts, newest first (by time received, then by row), and how many there are
 * in all (since `since`, epoch ms, when given).
 */
export function listConflicts(
  db: ConflictsSource,
  page: { limit?: number; offset?: number; since?: number } = {},
): { total: number; conflicts: ConflictView[] } {
  const limit = Math.max(1, Math.min(page.limit ?? 100, CONFLICTS_PAGE_MAX));
  const where = page.since === undefined ? "" : "WHERE received_at >= ?";
  const args = page.since === undefined ? [] : [page.since];
  const total = Number(db.statement(`SELECT count(*) AS n FROM conflicts ${where}`).get(...args)?.n ?? 0);
  const rows = db.statement(
    `SELECT id, sop_instance_uid, stored_sha256, received_sha256, policy, kept_path, calling_aet, received_at
    FROM conflicts ${where} ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?`,
  ).all(...args, limit, Math.max(0, page.offset ?? 0));
  return {
    total,
    conflicts: rows.map((r) => ({
      id: Number(r.id),
      sopInstanceUid: String(r.sop_instance_uid),
      storedSha256: String(r.stored_sha256),
      receivedSha256: String(r.received_sha256),
      policy: r.policy as DuplicatePolicy,
      keptPath: r.kept_path === null || r.kept_path === undefined ? null : String(r.kept_path),
      callingAet: String(r.calling_aet ?? ""),
      receivedAt: new Date(Number(r.received_at)).toISOString(),
    })),
  };
}

/**
 * Epoch ms of an ISO 8601 date or date-time; a date alone is its midnight UTC, a time without an offset is
 * UTC too. Undefined if it is not one.
 */
export function sinceOf(text: string): number | undefined {
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:?\d{2})?)?$/.exec(
    text,
  );
  if (!m) return undefined;
  const ms = Date.parse(m[2] ? `${m[1]}T${m[2]}${m[3] ?? "Z"}` : `${m[1]}T00:00:00Z`);
  return Number.isFinite(ms) ? ms : undefined;
}
