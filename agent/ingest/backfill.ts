/**
 * The SHA-256 the index records of each object's data set, for objects whose bytes were not hashed on
 * their way to Success: a C-STORE's (ingest.ts; hashing was a fifth of the receive path's CPU, issue 16)
 * and one a restart found in `incoming/` (recover.ts). Their rows carry NOT_HASHED until then. The
 * backfill runs once the agent is idle (no association open for a while: scp_server.ts) and stops as
 * soon as one opens; before that, what needs a hash computes it itself: a duplicate's comparison
 * (ingest.ts) and a send through the tunnel (tunnel/objects.ts), which then records it here.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { type Archive, datasetHash } from "../archive/archive.ts";
import type { Database } from "../index/db.ts";
import { type ComputedHash, type IndexedDataset, recordHashes } from "../index/instances.ts";

/** Objects hashed between two looks at whether the agent is still idle. */
const BATCH = 16;
/** Bytes read from an archived object at a time. */
const READ_BLOCK = 1 << 20;

interface Missing extends Omit<IndexedDataset, "sha256"> {
  sop: string;
}

export class HashBackfill {
  #running: Promise<number> | undefined;
  #failed = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly archive: Archive,
    private readonly log: Logger,
  ) {}

  /**
   * Hashes the objects the index has no hash for, a batch at a time, for as long as `idle()` says
   * so. Resolves with how many it hashed, once none is left or `idle()` turned false. One run at a time:
   * a call while one runs joins it.
   */
  run(idle: () => boolean): Promise<number> {
    this.#running ??= this.#run(idle).finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #run(idle: () => boolean): Promise<number> {
    let hashed = 0;
    // One read buffer for the whole run (objects are hashed one after another).
    const block = new Uint8Array(READ_BLOCK);
    while (idle()) {
      const batch = this.#missing();
      if (!batch.length) break;
      const done: ComputedHash[] = [];
      for (const row of batch) {
        if (!idle()) break;
        try {
          done.push({
            sopInstanceUid: row.sop,
            path: row.path,
            sha256: await datasetHash(this.archive, row, block),
          });
        } catch (err) {
          // Unreadable or short: left unhashed (a send of it fails and says why); not tried again here.
          this.#failed.add(row.sop);
          this.log.warn("backfill: cannot hash an archived object", {
            sop: hashUid(row.sop),
            reason: (err as Error).message,
          });
        }
      }
      try {
        recordHashes(this.db, done);
      } catch (err) {
        this.log.warn("backfill: cannot record hashes; tried again later", { reason: (err as Error).name });
        break;
      }
      hashed += done.length;
    }
    if (hashed) this.log.info("backfill: hashed archived objects", { count: hashed });
    return hashed;
  }

  #missing(): Missing[] {
    const rows = this.db.statement(
      `SELECT sop_instance_uid AS sop, path, dataset_offset AS datasetOffset, dataset_size AS datasetSize
      FROM instances WHERE sha256 = '' AND removed_at IS NULL ORDER BY received_at LIMIT ?`,
    ).all(BATCH + this.#failed.size) as unknown as Missing[];
    return rows.filter((r) => !this.#failed.has(r.sop)).slice(0, BATCH);
  }
}
