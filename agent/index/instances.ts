/** Committing one archived object to the index, counts and lists included, in one transaction. */
import type { InstanceAttributes } from "@conduit/shared/dicom";
import type { Database } from "./db.ts";

/** Where and what the archived file is. */
export interface StoredFile {
  path: string;
  fileSize: number;
  datasetOffset: number;
  datasetSize: number;
  /** The data set's SHA-256 (hex), or NOT_HASHED until backfill.ts computes it. */
  sha256: string;
  transferSyntaxUid: string;
  callingAet: string;
}

/**
 * `instances.sha256` of an object whose bytes were not hashed as they arrived (a C-STORE's: issue 16);
 * ingest/backfill.ts fills it in.
 */
export const NOT_HASHED = "";

/** One object for {@link indexInstances}. */
export interface IndexEntry {
  attrs: InstanceAttributes;
  file: StoredFile;
  /** Runs in the object's savepoint after its row (its queue rows, a conflict): a throw undoes the object. */
  alsoInTransaction?: () => void;
}

/**
 * Indexes one object in one transaction: the patient upserted, the study and series inserted when new,
 * the instance inserted (or, when it replaces a stored one, its file facts updated), and the counts and
 * lists of its series, study and patient moved by what was new, so the cost stays flat as a study grows.
 */
export function indexInstance(
  db: Database,
  a: InstanceAttributes,
  file: StoredFile,
  alsoInTransaction?: () => void,
  now = Date.now(),
): void {
  const [err] = indexInstances(db, [{ attrs: a, file, alsoInTransaction }], now);
  if (err !== undefined) throw err;
}

/** What a group did to one study or series row. */
interface Parent {
  /** The row was inserted by this group. */
  inserted: boolean;
  /** Entries of this group under it that committed, and of those how many were new instances. */
  kept: number;
  added: number;
}

/** Sets a study's Modalities in Study (`?1`: its UID) from its series, sorted, backslash-separated. */
export const STUDY_MODALITIES =
  `UPDATE studies SET modalities_in_study = coalesce((SELECT group_concat(m, '\\')
  FROM (SELECT DISTINCT modality AS m FROM series WHERE study_instance_uid = ?1 AND modality <> '' ORDER BY m)), '')
  WHERE study_instance_uid = ?1`;

/** The study's columns the index takes from each object, in the order its statements name them. */
function studyFacts(a: InstanceAttributes) {
  return [
    a.studyDate,
    a.studyTime,
    a.accessionNumber,
    a.referringPhysicianName,
    a.studyDescription,
    a.studyId,
    a.specificCharacterSet,
  ] as const;
}

/**
 * A person name as SQL sees whether it gives one: without the component (`^`) and group (`=`) separators and
 * spaces it may end with, so that `^^^^` (a name field kept with no name in it) counts as empty, as '' does,
 * and a later object's name takes its place.
 */
const NAME_GIVEN = (column: string) => `rtrim(${column}, '^= ')`;

/**
 * What a study's row keeps as its first objects give it, empty ones filled by later objects: the patient
 * (patient_name, patient_birth_date, patient_sex), the patient's age at the study and the institution.
 */
function patientFacts(a: InstanceAttributes) {
  return [a.patientName, a.patientBirthDate, a.patientSex, a.patientAge, a.institutionName] as const;
}

/** The series' columns the index takes from each object, in the order its statements name them. */
function seriesFacts(a: InstanceAttributes) {
  return [
    a.modality,
    a.seriesNumber,
    a.seriesDescription,
    a.seriesDate,
    a.seriesTime,
    a.bodyPartExamined,
  ] as const;
}

/**
 * Indexes objects in one transaction (a group commit's) as {@link indexInstance} would one after another,
 * with the statements an object shares with its group run once per group (issue 16: seven statements per
 * object were most of the index's time): the patient upserted when its values change within the group, a
 * study and a series inserted once, each instance (with `alsoInTransaction`) in a savepoint of its own so
 * one can fail alone, and the counts and lists of each series, study and patient moved once by what was
 * new. A study or series row this group inserted is removed again when none of its objects committed.
 * Returns, per entry, the error that undid it (undefined when it committed); a failure of the whole
 * transaction throws.
 */
export function indexInstances(db: Database, entries: IndexEntry[], now = Date.now()): unknown[] {
  return db.write(() => {
    const run = (sql: string, ...args: (string | number | null)[]) => db.statement(sql).run(...args).changes;
    const patients = new Map<string, string>();
    const studies = new Map<string, Parent & { classes: Set<string>; newSeries: number }>();
    const series = new Map<string, Parent>();
    for (const { attrs: a } of entries) {
      const patient = `${a.patientId}\0${a.issuerOfPatientId}`;
      const values = `${a.patientName}\0${a.patientBirthDate}\0${a.patientSex}`;
      if (patients.get(patient) !== values) {
        patients.set(patient, values);
        run(
          `INSERT INTO patients (patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex)
          VALUES (?, ?, ?, ?, ?) ON CONFLICT (patient_id, issuer_of_patient_id) DO UPDATE SET
          patient_name = CASE WHEN ${NAME_GIVEN("excluded.patient_name")} = '' THEN patient_name
            ELSE excluded.patient_name END,
          patient_birth_date = coalesce(nullif(excluded.patient_birth_date, ''), patient_birth_date),
          patient_sex = coalesce(nullif(excluded.patient_sex, ''), patient_sex)`,
          a.patientId,
          a.issuerOfPatientId,
          a.patientName,
          a.patientBirthDate,
          a.patientSex,
        );
      }
      if (!studies.has(a.studyInstanceUid)) {
        const inserted = run(
          `INSERT INTO studies (study_instance_uid, patient_pk, study_date, study_time, accession_number,
          referring_physician_name, study_description, study_id, specific_character_set, updated_at,
          patient_name, patient_birth_date, patient_sex, patient_age, institution_name)
          VALUES (?, (SELECT pk FROM patients WHERE patient_id = ? AND issuer_of_patient_id = ?), ?, ?, ?, ?, ?, ?, ?, ?,
          ?, ?, ?, ?, ?)
          ON CONFLICT (study_instance_uid) DO NOTHING`,
          a.studyInstanceUid,
          a.patientId,
          a.issuerOfPatientId,
          ...studyFacts(a),
          now,
          ...patientFacts(a),
        ) > 0;
        // A study known already keeps the patient its first objects named; what they left empty, a later
        // object fills in.
        if (!inserted && patientFacts(a).some((v) => v !== "")) {
          run(
            `UPDATE studies SET
            patient_name = CASE WHEN ${NAME_GIVEN("patient_name")} = '' THEN ?1 ELSE patient_name END,
            patient_birth_date = coalesce(nullif(patient_birth_date, ''), ?2),
            patient_sex = coalesce(nullif(patient_sex, ''), ?3), patient_age = coalesce(nullif(patient_age, ''), ?4),
            institution_name = coalesce(nullif(institution_name, ''), ?5)
            WHERE study_instance_uid = ?6 AND (${NAME_GIVEN("patient_name")} = '' OR patient_birth_date = ''
              OR patient_sex = '' OR patient_age = '' OR institution_name = '')`,
            ...patientFacts(a),
            a.studyInstanceUid,
          );
        }
        studies.set(a.studyInstanceUid, { inserted, kept: 0, added: 0, classes: new Set(), newSeries: 0 });
      }
      if (!series.has(a.seriesInstanceUid)) {
        const inserted = run(
          `INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number,
          series_description, series_date, series_time, body_part_examined)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_instance_uid) DO NOTHING`,
          a.seriesInstanceUid,
          a.studyInstanceUid,
          ...seriesFacts(a),
        ) > 0;
        series.set(a.seriesInstanceUid, { inserted, kept: 0, added: 0 });
      }
    }

    const errors: unknown[] = entries.map(() => undefined);
    entries.forEach(({ attrs: a, file, alsoInTransaction }, i) => {
      try {
        const added = db.write(() => {
          const isNew = run(
            `INSERT INTO instances (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid,
            instance_number, rows, columns, bits_allocated, number_of_frames, transfer_syntax_uid, path,
            file_size, dataset_offset, dataset_size, sha256, calling_aet, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (sop_instance_uid) DO NOTHING`,
            a.sopInstanceUid,
            a.seriesInstanceUid,
            a.studyInstanceUid,
            a.sopClassUid,
            a.instanceNumber,
            a.rows,
            a.columns,
            a.bitsAllocated,
            a.numberOfFrames,
            file.transferSyntaxUid,
            file.path,
            file.fileSize,
            file.datasetOffset,
            file.datasetSize,
            file.sha256,
            file.callingAet,
            now,
          ) > 0;
          if (!isNew) {
            // A replacement (duplicates keepLast, a conflict resolved keeping the received copy), or a
            // tombstone filled again: same counts, new file facts (and the new object's image size, which
            // also fills in a row indexed before migration 0006) and instance number; its series' and
            // study's attributes become the new object's, so that C-FIND answers what is archived now.
            run(
              `UPDATE instances SET path = ?, file_size = ?, dataset_offset = ?, dataset_size = ?, sha256 = ?,
              transfer_syntax_uid = ?, rows = ?, columns = ?, bits_allocated = ?, number_of_frames = ?,
              instance_number = ?, received_at = ?, removed_at = NULL WHERE sop_instance_uid = ?`,
              file.path,
              file.fileSize,
              file.datasetOffset,
              file.datasetSize,
              file.sha256,
              file.transferSyntaxUid,
              a.rows,
              a.columns,
              a.bitsAllocated,
              a.numberOfFrames,
              a.instanceNumber,
              now,
              a.sopInstanceUid,
            );
            run(
              `UPDATE series SET modality = ?, series_number = ?, series_description = ?, series_date = ?,
              series_time = ?, body_part_examined = ? WHERE series_instance_uid = ?`,
              ...seriesFacts(a),
              a.seriesInstanceUid,
            );
            // Its series' modality may be another now: the study's list follows.
            run(STUDY_MODALITIES, a.studyInstanceUid);
            run(
              `UPDATE studies SET study_date = ?, study_time = ?, accession_number = ?,
              referring_physician_name = ?, study_description = ?, study_id = ?, specific_character_set = ?,
              updated_at = ?, patient_name = ?, patient_birth_date = ?, patient_sex = ?, patient_age = ?,
              institution_name = ? WHERE study_instance_uid = ?`,
              ...studyFacts(a),
              now,
              ...patientFacts(a),
              a.studyInstanceUid,
            );
          }
          alsoInTransaction?.();
          return isNew;
        });
        const study = studies.get(a.studyInstanceUid)!;
        const ofSeries = series.get(a.seriesInstanceUid)!;
        study.kept++;
        ofSeries.kept++;
        if (!added) return;
        // A series inserted here counts once, with the first new instance under it (as one by one).
        if (ofSeries.inserted && ofSeries.added === 0) study.newSeries++;
        study.added++;
        ofSeries.added++;
        study.classes.add(a.sopClassUid);
      } catch (err) {
        errors[i] = err;
      }
    });

    for (const [uid, s] of series) {
      if (s.added) {
        run(
          `UPDATE series SET num_instances = num_instances + ? WHERE series_instance_uid = ?`,
          s.added,
          uid,
        );
      } else if (s.inserted && !s.kept) run(`DELETE FROM series WHERE series_instance_uid = ?`, uid);
    }
    for (const [uid, st] of studies) {
      if (!st.added) {
        if (st.inserted && !st.kept) run(`DELETE FROM studies WHERE study_instance_uid = ?`, uid);
        continue;
      }
      // The counts move with the first SOP class; each further class only joins the list.
      let first = true;
      for (const sopClass of st.classes) {
        run(
          `UPDATE studies SET num_instances = num_instances + ?1, num_series = num_series + ?2, updated_at = ?4,
          sop_classes_in_study = CASE
            WHEN instr('\\' || sop_classes_in_study || '\\', '\\' || ?3 || '\\') > 0 THEN sop_classes_in_study
            WHEN sop_classes_in_study = '' THEN ?3
            ELSE sop_classes_in_study || '\\' || ?3 END
          WHERE study_instance_uid = ?5`,
          first ? st.added : 0,
          first ? st.newSeries : 0,
          sopClass,
          now,
          uid,
        );
        first = false;
      }
      if (st.newSeries) {
        run(STUDY_MODALITIES, uid);
      }
      run(
        `UPDATE patients SET num_instances = num_instances + ?1, num_series = num_series + ?2,
        num_studies = num_studies + ?3 WHERE pk = (SELECT patient_pk FROM studies WHERE study_instance_uid = ?4)`,
        st.added,
        st.newSeries,
        st.inserted ? 1 : 0,
        uid,
      );
    }
    return errors;
  });
}

/** Where an indexed instance's data set is, and its hash (NOT_HASHED until known). */
export interface IndexedDataset {
  sha256: string;
  path: string;
  datasetOffset: number;
  datasetSize: number;
}

/** The index row facts of an instance, if it is indexed (read on the writer connection: no wait). */
export function existingInstance(db: Database, sopInstanceUid: string): IndexedDataset | undefined {
  return db.statement(
    `SELECT sha256, path, dataset_offset AS datasetOffset, dataset_size AS datasetSize FROM instances
    WHERE sop_instance_uid = ?`,
  ).get(sopInstanceUid) as IndexedDataset | undefined;
}

/**
 * An archived instance a resend is compared with before it is synced (ingest.ts): indexed, not removed,
 * of the same SOP Class and transfer syntax (the same bytes under another syntax are another object).
 */
export function archivedDataset(
  db: Database,
  sopInstanceUid: string,
  sopClassUid: string,
  transferSyntaxUid: string,
): IndexedDataset | undefined {
  return db.statement(
    `SELECT sha256, path, dataset_offset AS datasetOffset, dataset_size AS datasetSize FROM instances
    WHERE sop_instance_uid = ? AND removed_at IS NULL AND sop_class_uid = ? AND transfer_syntax_uid = ?`,
  ).get(sopInstanceUid, sopClassUid, transferSyntaxUid) as IndexedDataset | undefined;
}

/** A data set hash computed after the object was indexed (ingest/backfill.ts, a send). */
export interface ComputedHash {
  sopInstanceUid: string;
  path: string;
  sha256: string;
}

/**
 * Records each hash for the instance stored at its `path` if the row still has none (a replacement or
 * a removal since it was read leaves the row alone), in one transaction. Not flushed: a hash a power
 * loss undoes is computed again.
 */
export function recordHashes(db: Database, hashes: ComputedHash[]): void {
  if (!hashes.length) return;
  db.writeUnsynced(() => {
    const st = db.statement(
      "UPDATE instances SET sha256 = ? WHERE sop_instance_uid = ? AND path = ? AND sha256 = ?",
    );
    for (const h of hashes) st.run(h.sha256, h.sopInstanceUid, h.path, NOT_HASHED);
  });
}
