/**
 * The de-identification stage's records in libsql: the copies it made (deid_copies), what a transfer
 * asked of it (deid_routes), and the one transaction that finishes a stage row: the copy recorded, its
 * forward rows queued and the stage row marked done together, so a crash leaves all of them or none.
 */
import type { Database } from "../index/db.ts";
import type { TrialAttributes } from "@conduit/shared/deid";
import { CANCELED } from "./keys.ts";

/** What the stage wrote for one object. */
export interface CopyFacts {
  route: string;
  sourceSopInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** Relative to the data directory. */
  path: string;
  fileSize: number;
  datasetOffset: number;
  datasetSize: number;
  sha256: string;
  patientId: string;
  patientName: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
}

/** A transfer's de-identification request as the source keeps it. */
export interface TransferDeid {
  options: string[];
  allowBurnedIn: boolean;
  /** Original Patient ID -> pseudonym. */
  pseudonyms?: Record<string, string>;
  /** The custom profile as the transfer gave it (checked when the send was taken). */
  custom?: Record<string, unknown>;
  /** Clinical Trial attributes to set on every copy. */
  clinicalTrial?: TrialAttributes;
  destinations: string[];
}

/** The pseudonymous identifiers of a route's copies (the first patient and study seen). */
export interface CopyIdentifiers {
  patientId: string;
  patientName: string;
  studyInstanceUid: string;
}

export class Copies {
  constructor(private readonly db: Database) {}

  /**
   * Finishes a stage row in one transaction: marks it done (only if it is still in flight: a row reset
   * or canceled meanwhile keeps its state and nothing is queued), records the copy and queues it for
   * each destination. A transfer canceled while the row was worked on (its other rows canceled) takes
   * this one out too, as the cancel would have. Returns false when nothing was queued.
   */
  complete(stageRowId: number, copy: CopyFacts, destinations: string[], now = Date.now()): boolean {
    return this.db.write(() => {
      // The cancel marks rows in flight (this one) and takes the waiting ones out (dead, 'canceled'). Two
      // lookups, each a range of an index: as one condition (`state = 'dead' OR id = ?`) it read every row of
      // the route for every object de-identified (0.8-1 s each at 3 million rows, more from a cold disk).
      const canceled = this.db.statement(
        `SELECT 1 AS c FROM queue WHERE route = ? AND state = 'dead' AND last_error = '${CANCELED}'
        UNION ALL SELECT 1 FROM queue WHERE id = ? AND route = ? AND last_error = '${CANCELED}' LIMIT 1`,
      ).get(copy.route, stageRowId, copy.route);
      if (canceled) {
        this.db.statement(`UPDATE queue SET state = 'dead', last_error = '${CANCELED}', updated_at = ?
          WHERE id = ? AND state = 'in_flight'`).run(now, stageRowId);
        return false;
      }
      const done =
        this.db.statement(`UPDATE queue SET state = 'done', attempts = attempts + 1, last_status = 0,
        last_error = '', updated_at = ?, done_at = ? WHERE id = ? AND state = 'in_flight'`)
          .run(now, now, stageRowId).changes;
      if (!done) return false;
      const row = this.db.statement(
        `INSERT INTO deid_copies (route, source_sop_instance_uid, sop_instance_uid,
        sop_class_uid, transfer_syntax_uid, path, file_size, dataset_offset, dataset_size, sha256, patient_id,
        patient_name, study_instance_uid, series_instance_uid, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (source_sop_instance_uid, route) DO UPDATE SET sop_instance_uid = excluded.sop_instance_uid,
        sop_class_uid = excluded.sop_class_uid, transfer_syntax_uid = excluded.transfer_syntax_uid,
        path = excluded.path, file_size = excluded.file_size, dataset_offset = excluded.dataset_offset,
        dataset_size = excluded.dataset_size, sha256 = excluded.sha256, patient_id = excluded.patient_id,
        patient_name = excluded.patient_name, study_instance_uid = excluded.study_instance_uid,
        series_instance_uid = excluded.series_instance_uid, created_at = excluded.created_at, removed_at = NULL
        RETURNING id`,
      ).get(
        copy.route,
        copy.sourceSopInstanceUid,
        copy.sopInstanceUid,
        copy.sopClassUid,
        copy.transferSyntaxUid,
        copy.path,
        copy.fileSize,
        copy.datasetOffset,
        copy.datasetSize,
        copy.sha256,
        copy.patientId,
        copy.patientName,
        copy.studyInstanceUid,
        copy.seriesInstanceUid,
        now,
      ) as { id: number };
      const queue = this.db.statement(
        `INSERT INTO queue (sop_instance_uid, route, destination, state, attempts,
        next_attempt_at, created_at, updated_at, copy_id) VALUES (?, ?, ?, 'pending', 0, ?, ?, ?, ?)
        ON CONFLICT (sop_instance_uid, route, destination) DO UPDATE SET state = 'pending', attempts = 0,
        next_attempt_at = excluded.next_attempt_at, last_error = '', last_status = NULL,
        updated_at = excluded.updated_at, done_at = NULL, copy_id = excluded.copy_id`,
      );
      for (const d of destinations) queue.run(copy.sopInstanceUid, copy.route, d, now, now, now, row.id);
      return true;
    });
  }

  /** The paths of copies whose files are live (any other file under `<data>/deid` is stray). */
  livePaths(): Set<string> {
    return new Set(
      (this.db.statement("SELECT path FROM deid_copies WHERE removed_at IS NULL").all() as { path: string }[])
        .map((r) => r.path),
    );
  }

  /** Copies every row of which is done: their files can go. */
  finished(limit = 500): { id: number; path: string }[] {
    return this.db.statement(`SELECT c.id, c.path FROM deid_copies c WHERE c.removed_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.copy_id = c.id AND q.state <> 'done') LIMIT ?`)
      .all(limit) as { id: number; path: string }[];
  }

  /**
   * Records that a copy's file is gone (before it is removed: a crash then leaves a stray file, never a
   * dangling row), if it is still finished: a copy made again since `finished` listed it (its object
   * replaced, its rows queued again) is not. Returns whether it was marked, and its file may go.
   */
  markRemoved(id: number, now = Date.now()): boolean {
    return this.db.write(() =>
      this.db.statement(`UPDATE deid_copies SET removed_at = ? WHERE id = ? AND removed_at IS NULL
        AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.copy_id = deid_copies.id AND q.state <> 'done')`)
        .run(now, id).changes > 0
    );
  }

  /** Queues again a route's copy rows that failed or died (a transfer sent again); returns how many. */
  requeueCopies(route: string, now = Date.now()): number {
    return this.db.write(() =>
      this.db.statement(
        `UPDATE queue SET state = 'pending', attempts = 0, next_attempt_at = ?, last_error = '',
        updated_at = ? WHERE route = ? AND copy_id IS NOT NULL AND state IN ('failed', 'dead')`,
      )
        .run(now, now, route).changes
    );
  }

  /** The pseudonymous identifiers of the route's first copy, once one is made. */
  identifiers(route: string): CopyIdentifiers | undefined {
    const row = this.db.statement(`SELECT patient_id AS patientId, patient_name AS patientName,
      study_instance_uid AS studyInstanceUid FROM deid_copies WHERE route = ? ORDER BY id LIMIT 1`)
      .get(route) as CopyIdentifiers | undefined;
    return row ? { ...row } : undefined;
  }

  /**
   * Records what a transfer asked (the first time only: a send repeated for a retry keeps the request,
   * and so the pseudonyms, it began with). Returns the request in force.
   */
  saveTransfer(route: string, deid: TransferDeid, now = Date.now()): TransferDeid {
    this.db.write(() =>
      this.db.statement(`INSERT INTO deid_routes (route, options, allow_burned_in, pseudonyms, destinations,
        custom, clinical_trial, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (route) DO NOTHING`)
        .run(
          route,
          JSON.stringify(deid.options),
          deid.allowBurnedIn ? 1 : 0,
          deid.pseudonyms ? JSON.stringify(deid.pseudonyms) : null,
          JSON.stringify(deid.destinations),
          deid.custom ? JSON.stringify(deid.custom) : null,
          deid.clinicalTrial ? JSON.stringify(deid.clinicalTrial) : null,
          now,
        )
    );
    return this.transfer(route)!;
  }

  /** What a transfer asked of the stage, if it asked. */
  transfer(route: string): TransferDeid | undefined {
    const row = this.db.statement(
      `SELECT options, allow_burned_in, pseudonyms, destinations, custom, clinical_trial FROM deid_routes
      WHERE route = ?`,
    ).get(route) as
      | {
        options: string;
        allow_burned_in: number;
        pseudonyms: string | null;
        destinations: string;
        custom: string | null;
        clinical_trial: string | null;
      }
      | undefined;
    if (!row) return undefined;
    return {
      options: JSON.parse(row.options),
      allowBurnedIn: Boolean(row.allow_burned_in),
      ...(row.pseudonyms ? { pseudonyms: JSON.parse(row.pseudonyms) } : {}),
      ...(row.custom ? { custom: JSON.parse(row.custom) } : {}),
      ...(row.clinical_trial ? { clinicalTrial: JSON.parse(row.clinical_trial) } : {}),
      destinations: JSON.parse(row.destinations),
    };
  }
}
