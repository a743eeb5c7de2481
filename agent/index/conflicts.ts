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
