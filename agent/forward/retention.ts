/**
 * Retention: archived objects removed by rule, each leaving its index row as a tombstone (removed_at set,
 * path emptied). Three rules, each off unless configured:
 * - after forwarding: an object goes once every route it took is done and a delay has passed (an object
 *   whose dead rows were discarded counts as done from the discard: it will never be sent); objects no
 *   route takes are the site's archive and stay;
 * - by age: an object received more than so many days ago goes;
 * - by size: while the archive holds more than its cap, the oldest objects go (down to 95 % of it).
 * The last two make the agent a cache: they take objects no route takes too. No rule removes an object
 * with a queue row not yet done (waiting, in flight, failed or dead): what is still to be sent stays.
 */
import type { Logger } from "@conduit/shared/log";
import type { Database } from "../index/db.ts";
import { type Archive, datasetHash } from "../archive/archive.ts";
import { NOT_HASHED } from "../index/instances.ts";
import { archiveTotals } from "../index/totals.ts";

export interface RetentionPolicy {
  /** Remove an object this long after its last route was done (only objects a route took). */
  afterForwardSeconds?: number;
  /** Remove an object received this many days ago (fractions allowed). */
  afterDays?: number;
  /** Keep the archive's files under this many bytes, the oldest removed first. */
  maxBytes?: number;
}

/** An object a rule selected. */
interface Due {
  sop: string;
  path: string;
  size: number;
  sha256: string;
  datasetOffset: number;
  datasetSize: number;
  receivedAt: number;
}

const COLUMNS = `i.sop_instance_uid AS sop, i.path, i.file_size AS size, i.sha256,
  i.dataset_offset AS datasetOffset, i.dataset_size AS datasetSize, i.received_at AS receivedAt`;
/** Nothing left to send: no queue row of the object but done ones. */
const SETTLED =
  `NOT EXISTS (SELECT 1 FROM queue q WHERE q.sop_instance_uid = i.sop_instance_uid AND q.state <> 'done')`;
/** Down to this share of the cap once over it, so that a full archive is not swept at every object. */
const LOW_WATER = 0.95;

export class Retention {
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<unknown> | undefined;

  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly policy: RetentionPolicy,
    private readonly log: Logger,
    private readonly onRemoved: (count: number, bytes: number) => void = () => {},
  ) {}

  /** Whether any rule is configured. */
  static wanted(policy: RetentionPolicy): boolean {
    return policy.afterForwardSeconds !== undefined || policy.afterDays !== undefined ||
      policy.maxBytes !== undefined;
  }

  start(everyMs = this.#period()): void {
    this.#timer = setInterval(() => {
      if (this.#sweeping) return;
      this.#sweeping = this.sweep().catch((err) => {
        this.log.error("retention sweep failed", { reason: (err as Error).name });
      }).finally(() => (this.#sweeping = undefined));
    }, everyMs);
  }

  /** Half the shortest delay configured, every 5 s with a cap; at least every 0.5 s, at most every 30. */
  #period(): number {
    const { afterForwardSeconds, afterDays, maxBytes } = this.policy;
    const halves = [
      afterForwardSeconds === undefined ? Infinity : afterForwardSeconds * 500,
      afterDays === undefined ? Infinity : afterDays * 43_200_000,
      maxBytes === undefined ? Infinity : 5_000,
    ];
    return Math.min(30_000, Math.max(500, Math.min(...halves)));
  }

  /** Stops sweeping; resolves once a sweep under way has finished. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  /** Removes what is due now under every configured rule; resolves with how many objects. */
  async sweep(now = Date.now(), limit = 500): Promise<number> {
    const { afterForwardSeconds, afterDays, maxBytes } = this.policy;
    let removed = 0;
    if (afterForwardSeconds !== undefined) {
      // Objects a route took (a row, all done), or whose dead rows were discarded (never to be sent), since
      // the last delivery or discard; never one that had no row (no route took it: the site's archive).
      const due = this.db.statement(
        `SELECT ${COLUMNS} FROM instances i LEFT JOIN queue_discarded d ON d.sop_instance_uid = i.sop_instance_uid
        WHERE i.removed_at IS NULL AND i.path <> ''
          AND (d.sop_instance_uid IS NOT NULL
            OR EXISTS (SELECT 1 FROM queue q WHERE q.sop_instance_uid = i.sop_instance_uid)) AND ${SETTLED}
          AND max(coalesce(d.discarded_at, 0), coalesce((SELECT max(done_at) FROM queue q
            WHERE q.sop_instance_uid = i.sop_instance_uid), 0)) <= ?
        LIMIT ?`,
      ).all(now - afterForwardSeconds * 1000, limit) as unknown as Due[];
      removed += await this.#remove(due, now, "forwarded");
    }
    if (afterDays !== undefined) {
      removed += await this.#remove(this.#oldest(limit, now - afterDays * 86_400_000), now, "age");
    }
    if (maxBytes !== undefined) {
      const held = (await archiveTotals(this.db)).bytes;
      if (held > maxBytes) {
        // The oldest objects until the archive is back under its low-water mark (at most `limit` a sweep).
        const due: Due[] = [];
        let over = held - maxBytes * LOW_WATER;
        for (const row of this.#oldest(limit)) {
          if (over <= 0) break;
          due.push(row);
          over -= row.size;
        }
        removed += await this.#remove(due, now, "size");
      }
    }
    return removed;
  }

  /** The oldest objects nothing is left to send of (received before `before`, if given). */
  #oldest(limit: number, before = Number.MAX_SAFE_INTEGER): Due[] {
    return this.db.statement(
      `SELECT ${COLUMNS} FROM instances i
      WHERE i.removed_at IS NULL AND i.path <> '' AND i.received_at <= ? AND ${SETTLED}
      ORDER BY i.received_at, i.rowid LIMIT ?`,
    ).all(before, limit) as unknown as Due[];
  }

  async #remove(due: Due[], now: number, rule: "forwarded" | "age" | "size"): Promise<number> {
    let bytes = 0;
    let removed = 0;
    for (const row of due) {
      // A tombstone keeps the hash that tells a later copy of the object from other bytes: one the
      // backfill has not reached yet is hashed now (NOT_HASHED stays if the file cannot be read).
      const sha256 = row.sha256 || await datasetHash(this.archive, row).catch(() => NOT_HASHED);
      // Tombstone first: a crash after it leaves a file the index no longer points at (harmless),
      // never an index row pointing at a missing file. Only if the object is still the one selected and
      // still settled: a new version (keepLast) may have replaced it at the same path, with rows to send,
      // while the sweep hashed this one or removed others.
      const changed = this.db.write(() => {
        const n = this.db.statement(
          `UPDATE instances SET removed_at = ?, path = '', sha256 = ? WHERE sop_instance_uid = ?
          AND removed_at IS NULL AND path = ? AND received_at = ? AND NOT EXISTS (SELECT 1 FROM queue q
            WHERE q.sop_instance_uid = instances.sop_instance_uid AND q.state <> 'done')`,
        ).run(now, sha256, row.sop, row.path, row.receivedAt).changes;
        // Its file gone, its mark of discarded rows goes too (migration 0013).
        if (n) this.db.statement(`DELETE FROM queue_discarded WHERE sop_instance_uid = ?`).run(row.sop);
        return n;
      });
      if (!changed) continue;
      await this.archive.remove(row.path);
      bytes += row.size;
      removed++;
    }
    if (removed) {
      this.log.info(
        rule === "forwarded" ? "retention removed forwarded objects" : "retention removed objects",
        { rule, count: removed, bytes },
      );
      this.onRemoved(removed, bytes);
    }
    return removed;
  }
}
