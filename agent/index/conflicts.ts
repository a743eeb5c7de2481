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
  /**
   * How it was resolved (`agent conflicts resolve`): `stored` (the kept copy deleted) or `received` (the
   * kept copy made the archived object); null while unresolved. With `resolvedAt` null it is under way.
   */
  resolution: Resolution | null;
  /** When it was resolved, ISO 8601 (UTC); null while unresolved or under way. */
  resolvedAt: string | null;
}

/** Which object of a keepBoth conflict stays: the one the index holds, or the copy kept aside. */
export type Resolution = "stored" | "received";

/** The most conflicts one page lists. */
export const CONFLICTS_PAGE_MAX = 1000;

/** What `listConflicts` reads with: the agent's Database, or a read-only connection of the CLI's own. */
export interface ConflictsSource {
  statement(sql: string): {
    all(...params: unknown[]): Record<string, unknown>[];
    get(...params: unknown[]): Record<string, unknown> | undefined;
  };
}

/** What `listConflicts` lists: a page (by `offset`, or `before` a row), filtered. */
export interface ConflictsPage {
  limit?: number;
  /** Rows to skip (kept for compatibility: it shifts when conflicts arrive between pages; `before` does not). */
  offset?: number;
  /** Only rows after the row of this id in the listing's order (older ones): the id of a page's last row. */
  before?: number;
  /** Only those received since then (epoch ms). */
  since?: number;
  /** Only those not resolved (a resolution under way counts as unresolved). */
  unresolved?: boolean;
}

const COLUMNS =
  `id, sop_instance_uid, stored_sha256, received_sha256, policy, kept_path, calling_aet, received_at,
  resolution, resolved_at`;
/** The columns of an index an agent before migration 0010 wrote (not started since an upgrade): none resolved. */
const COLUMNS_BEFORE_RESOLUTION =
  `id, sop_instance_uid, stored_sha256, received_sha256, policy, kept_path, calling_aet, received_at,
  NULL AS resolution, NULL AS resolved_at`;

/**
 * Whether the conflicts table has the resolution columns: the CLI reads an index read-only, which an agent
 * of an earlier version may have written and no agent of this one migrated yet.
 */
function hasResolution(db: ConflictsSource): boolean {
  return Boolean(
    db.statement("SELECT 1 AS k FROM pragma_table_info('conflicts') WHERE name = 'resolved_at'").get(),
  );
}

/**
 * One page of the recorded conflicts, newest first (by time received, then by row), and how many there are
 * in all (of those `since` and `unresolved` select; `before` and `offset` only page).
 */
export function listConflicts(
  db: ConflictsSource,
  page: ConflictsPage = {},
): { total: number; conflicts: ConflictView[] } {
  const limit = Math.max(1, Math.min(page.limit ?? 100, CONFLICTS_PAGE_MAX));
  const resolvable = hasResolution(db);
  const where: string[] = [];
  const args: unknown[] = [];
  if (page.since !== undefined) where.push("received_at >= ?"), args.push(page.since);
  if (page.unresolved && resolvable) where.push("resolved_at IS NULL");
  const filter = where.length ? `WHERE ${where.join(" AND ")}` : "";
  const total = Number(db.statement(`SELECT count(*) AS n FROM conflicts ${filter}`).get(...args)?.n ?? 0);
  if (page.before !== undefined) {
    // Keyset: after the cursor's row in (received_at DESC, id DESC), wherever rows arrived since.
    const at = db.statement("SELECT received_at FROM conflicts WHERE id = ?").get(page.before)?.received_at;
    if (at === undefined || at === null) where.push("id < ?"), args.push(page.before);
    else where.push("(received_at < ? OR (received_at = ? AND id < ?))"), args.push(at, at, page.before);
  }
  const rows = db.statement(
    `SELECT ${resolvable ? COLUMNS : COLUMNS_BEFORE_RESOLUTION} FROM conflicts
    ${
      where.length
        ? `WHERE ${where.join(" AND ")}`
        : ""
    } ORDER BY received_at DESC, id DESC LIMIT ? OFFSET ?`,
  ).all(...args, limit, Math.max(0, page.offset ?? 0));
  return { total, conflicts: rows.map(viewOf) };
}

/** One conflict by its id, or undefined. */
export function conflictById(db: ConflictsSource, id: number): ConflictView | undefined {
  const row = db.statement(`SELECT ${COLUMNS} FROM conflicts WHERE id = ?`).get(id);
  return row ? viewOf(row) : undefined;
}

/** Conflicts whose resolution is under way (begun, its files not yet settled): a crash interrupted them. */
export function resolutionsUnderWay(db: ConflictsSource): ConflictView[] {
  return db.statement(
    `SELECT ${COLUMNS} FROM conflicts WHERE resolution IS NOT NULL AND resolved_at IS NULL ORDER BY id`,
  ).all().map(viewOf);
}

/**
 * Begins a conflict's resolution, before any file changes (a crash after it is finished at the next start);
 * false when it is resolved, or under way with the other resolution (unless that is `replacing`).
 */
export function beginResolution(db: Database, id: number, keep: Resolution, replacing?: Resolution): boolean {
  return db.write(() =>
    db.statement(`UPDATE conflicts SET resolution = ? WHERE id = ? AND resolved_at IS NULL
      AND (resolution IS NULL OR resolution = ? OR resolution = ?)`).run(keep, id, keep, replacing ?? keep)
      .changes === 1
  );
}

/** Marks a begun resolution done; call inside the transaction that changes the index for it. */
export function endResolutionInTransaction(db: Database, id: number, now = Date.now()): void {
  db.statement("UPDATE conflicts SET resolved_at = ? WHERE id = ? AND resolution IS NOT NULL").run(now, id);
}

function viewOf(r: Record<string, unknown>): ConflictView {
  return {
    id: Number(r.id),
    sopInstanceUid: String(r.sop_instance_uid),
    storedSha256: String(r.stored_sha256),
    receivedSha256: String(r.received_sha256),
    policy: r.policy as DuplicatePolicy,
    keptPath: r.kept_path === null || r.kept_path === undefined ? null : String(r.kept_path),
    callingAet: String(r.calling_aet ?? ""),
    receivedAt: new Date(Number(r.received_at)).toISOString(),
    resolution: r.resolution === "stored" || r.resolution === "received" ? r.resolution : null,
    resolvedAt: r.resolved_at === null || r.resolved_at === undefined
      ? null
      : new Date(Number(r.resolved_at)).toISOString(),
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
