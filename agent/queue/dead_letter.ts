/**
 * The operator's hands on waiting and dead rows: retry the failed, replay the dead, abandon waiting rows to
 * the dead letter, discard dead rows for good. By destination and/or row ids, each call one transaction.
 */
import type { Database } from "../index/db.ts";
import { ABANDONED, CANCELED } from "./keys.ts";
import type { QueueState } from "./rows.ts";

/**
 * Row ids bound in one statement: an operator's list is split into statements of at most so many (SQLite takes
 * at most 32 766 host parameters in one; a longer list was an error, "too many SQL variables").
 */
export const IDS_PER_STATEMENT = 1000;

/** The WHERE clause (and its arguments) of `conditions` narrowed to a destination and/or row ids. */
function selection(
  conditions: string[],
  args: (string | number)[],
  f: { destination?: string; ids?: number[] },
): { where: string; args: (string | number)[] } {
  const where = [...conditions];
  const all = [...args];
  if (f.destination) {
    where.push("destination = ?");
    all.push(f.destination);
  }
  if (f.ids?.length) {
    where.push(`id IN (${f.ids.map(() => "?").join(", ")})`);
    all.push(...f.ids);
  }
  return { where: where.join(" AND "), args: all };
}

/** Failed rows due now (retry), by destination or ids. Returns how many. */
export function retry(
  db: Database,
  filter: { destination?: string; ids?: number[] },
  now = Date.now(),
): number {
  return moveRows(db, "failed", "failed", filter, now, false);
}

/**
 * Dead rows back to pending with their attempts reset (replay), not those of a canceled route (a
 * transfer canceled at the hub is retried there). Returns how many.
 */
export function replay(
  db: Database,
  filter: { destination?: string; ids?: number[] },
  now = Date.now(),
): number {
  return moveRows(db, "dead", "pending", filter, now, true);
}

/**
 * Waiting rows (pending or failed, not in flight) given up by the operator: to the dead letter, with the
 * last error {@link ABANDONED}, where `replay` can bring them back. For rows that wait for a node removed
 * from the configuration, or a destination retired. Returns how many.
 */
export function abandon(db: Database, f: { destination?: string; ids?: number[] }, now = Date.now()): number {
  return byIds(db, f, (part) => {
    const { where, args } = selection(["state IN ('pending', 'failed')"], [], part);
    return db.statement(
      `UPDATE queue SET state = 'dead', last_error = ?, updated_at = ? WHERE ${where}`,
    )
      .run(ABANDONED, now, ...args).changes;
  });
}

/**
 * Runs `change` in one transaction on the rows `f` names, its ids (duplicates dropped) split into statements
 * of at most {@link IDS_PER_STATEMENT}; returns the rows changed in all. All of them change, or none.
 */
function byIds<F extends { ids?: number[] }>(db: Database, f: F, change: (part: F) => number): number {
  if (!f.ids?.length) return db.write(() => change(f));
  const ids = [...new Set(f.ids)];
  return db.write(() => {
    let n = 0;
    for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
      n += change({ ...f, ids: ids.slice(i, i + IDS_PER_STATEMENT) });
    }
    return n;
  });
}

/**
 * Dead rows deleted for good (discard): those named by destination and/or ids, or dead since before
 * `deadBefore` (ms since epoch; their last change), or with `all` every one; never a row in another state.
 * Canceled and abandoned rows are dead rows too. Replay is no longer possible; the archived object stays
 * until a retention rule removes it (no row still to be sent holds it any more; it is marked discarded at
 * `now`, so that `archive.removeAfterForwardSeconds` takes it as it would a forwarded one). Returns how many
 * (`Queue.discardDead` tells its `onDiscarded`).
 */
export function discardDead(
  db: Database,
  f: { destination?: string; ids?: number[]; deadBefore?: number; all?: boolean },
  now = Date.now(),
): number {
  if (!f.destination && !f.ids?.length && f.deadBefore === undefined && !f.all) {
    throw new Error("discard needs a destination, ids, an age or all");
  }
  const n = byIds(db, f, (part) => {
    const { where, args } = part.deadBefore === undefined
      ? selection(["state = 'dead'"], [], part)
      : selection(["state = 'dead'", "updated_at < ?"], [part.deadBefore], part);
    // The archived objects (not de-identified copies) whose rows go are marked, for
    // `archive.removeAfterForwardSeconds` (agent/forward/retention.ts): they will never be sent.
    db.statement(`INSERT INTO queue_discarded (sop_instance_uid, discarded_at)
      SELECT DISTINCT d.sop_instance_uid, ? FROM queue d WHERE d.id IN (SELECT id FROM queue
        WHERE ${where} AND copy_id IS NULL)
        AND EXISTS (SELECT 1 FROM instances i WHERE i.sop_instance_uid = d.sop_instance_uid)
      ON CONFLICT (sop_instance_uid) DO UPDATE SET discarded_at = excluded.discarded_at`).run(now, ...args);
    return db.statement(`DELETE FROM queue WHERE ${where}`).run(...args).changes;
  });
  return n;
}

function moveRows(
  db: Database,
  from: QueueState,
  to: QueueState,
  f: { destination?: string; ids?: number[] },
  now: number,
  reset: boolean,
) {
  return byIds(db, f, (part) => {
    const { where, args } = selection(
      from === "dead" ? ["state = ?", `last_error != '${CANCELED}'`] : ["state = ?"],
      [from],
      part,
    );
    return db.statement(`UPDATE queue SET state = ?, next_attempt_at = ?, updated_at = ?
      ${reset ? ", attempts = 0" : ""} WHERE ${where}`).run(to, now, now, ...args).changes;
  });
}
