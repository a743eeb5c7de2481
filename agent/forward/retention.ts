/**
 * Retention: an archived object goes once every route it took is done and a configured delay has
 * passed; the index row stays as a tombstone (removed_at set, path emptied). Objects that no route
 * takes are the site's archive and are never removed.
 */
import type { Logger } from "@conduit/shared/log";
import type { Database } from "../index/db.ts";
import { type Archive, datasetHash } from "../archive/archive.ts";
import { NOT_HASHED } from "../index/instances.ts";

export class Retention {
  #timer: ReturnType<typeof setInterval> | undefined;
  #sweeping: Promise<unknown> | undefined;

  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly delaySeconds: number,
    private readonly log: Logger,
    private readonly onRemoved: (count: number, bytes: number) => void = () => {},
  ) {}

  start(everyMs = Math.min(30_000, Math.max(500, this.delaySeconds * 500))): void {
    this.#timer = setInterval(() => {
      if (this.#sweeping) return;
      this.#sweeping = this.sweep().catch((err) => {
        this.log.error("retention sweep failed", { reason: (err as Error).name });
      }).finally(() => (this.#sweeping = undefined));
    }, everyMs);
  }

  /** Stops sweeping; resolves once a sweep under way has finished. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#sweeping;
  }

  /** Removes what is due now; resolves with how many objects. */
  async sweep(now = Date.now(), limit = 500): Promise<number> {
    const due = this.db.statement(
      `SELECT i.sop_instance_uid AS sop, i.path, i.file_size AS size, i.sha256,
        i.dataset_offset AS datasetOffset, i.dataset_size AS datasetSize, i.received_at AS receivedAt
      FROM instances i
      WHERE i.removed_at IS NULL AND i.path <> ''
        AND EXISTS (SELECT 1 FROM queue q WHERE q.sop_instance_uid = i.sop_instance_uid)
        AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.sop_instance_uid = i.sop_instance_uid AND q.state <> 'done')
        AND (SELECT max(done_at) FROM queue q WHERE q.sop_instance_uid = i.sop_instance_uid) <= ?
      LIMIT ?`,
    ).all(now - this.delaySeconds * 1000, limit) as {
      sop: string;
      path: string;
      size: number;
      sha256: string;
      datasetOffset: number;
      datasetSize: number;
      receivedAt: number;
    }[];
    let bytes = 0;
    let removed = 0;
    for (const row of due) {
      // A tombstone keeps the hash that tells a later copy of the object from other bytes: one the
      // backfill has not reached yet is hashed now (NOT_HASHED stays if the file cannot be read).
      const sha256 = row.sha256 || await datasetHash(this.archive, row).catch(() => NOT_HASHED);
      // Tombstone first: a crash after it leaves a file the index no longer points at (harmless),
      // never an index row pointing at a missing file. Only if the object is still the one selected and
      // still due: a new version (keepLast) may have replaced it at the same path, with rows to send,
      // while the sweep hashed this one or removed others.
      const changed = this.db.write(() =>
        this.db.statement(
          `UPDATE instances SET removed_at = ?, path = '', sha256 = ? WHERE sop_instance_uid = ?
          AND removed_at IS NULL AND path = ? AND received_at = ? AND NOT EXISTS (SELECT 1 FROM queue q
            WHERE q.sop_instance_uid = instances.sop_instance_uid AND q.state <> 'done')`,
        )
          .run(now, sha256, row.sop, row.path, row.receivedAt).changes
      );
      if (!changed) continue;
      await this.archive.remove(row.path);
      bytes += row.size;
      removed++;
    }
    if (removed) {
      this.log.info("retention removed forwarded objects", { count: removed, bytes });
      this.onRemoved(removed, bytes);
    }
    return removed;
  }
}
