/** Committing one archived object to the index, counts and lists included, in one transaction. */
import type { InstanceAttributes } from "@conduit/shared/dicom/header.ts";
import type { Database } from "./db.ts";

/** Where and what the archived file is. */
export interface StoredFile {
  path: string;
  fileSize: number;
  datasetOffset: number;
  datasetSize: number;
  sha256: string;
  transferSyntaxUid: string;
  callingAet: string;
}

/**
 * Indexes one object in one transaction: patient, study and series upserted, the instance inserted
 * (or its file facts updated), and the derived counts and lists of its series, study and patient
 * recomputed.
 */
export function indexInstance(
  db: Database,
  a: InstanceAttributes,
  file: StoredFile,
  alsoInTransaction?: () => void,
  now = Date.now(),
): void {
  const statements = indexStatements(a, file, now);
  db.write(() => {
    for (const s of statements) db.statement(s.sql).run(...s.args);
    alsoInTransaction?.();
  });
}

interface InStatement {
  sql: string;
  args: (string | number)[];
}

function indexStatements(a: InstanceAttributes, file: StoredFile, now: number): InStatement[] {
  const patientPk = "(SELECT pk FROM patients WHERE patient_id = ? AND issuer_of_patient_id = ?)";
  const who = [a.patientId, a.issuerOfPatientId];
  return [
    {
      sql:
        `INSERT INTO patients (patient_id, issuer_of_patient_id, patient_name, patient_birth_date, patient_sex)
        VALUES (?, ?, ?, ?, ?) ON CONFLICT (patient_id, issuer_of_patient_id) DO UPDATE SET
        patient_name = coalesce(nullif(excluded.patient_name, ''), patient_name),
        patient_birth_date = coalesce(nullif(excluded.patient_birth_date, ''), patient_birth_date),
        patient_sex = coalesce(nullif(excluded.patient_sex, ''), patient_sex)`,
      args: [a.patientId, a.issuerOfPatientId, a.patientName, a.patientBirthDate, a.patientSex],
    },
    {
      sql: `INSERT INTO studies (study_instance_uid, patient_pk, study_date, study_time, accession_number,
        referring_physician_name, study_description, study_id, specific_character_set, updated_at)
        VALUES (?, ${patientPk}, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (study_instance_uid) DO UPDATE SET updated_at = excluded.updated_at`,
      args: [
        a.studyInstanceUid,
        ...who,
        a.studyDate,
        a.studyTime,
        a.accessionNumber,
        a.referringPhysicianName,
        a.studyDescription,
        a.studyId,
        a.specificCharacterSet,
        now,
      ],
    },
    {
      sql: `INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number,
        series_description, series_date, series_time, body_part_examined)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (series_instance_uid) DO NOTHING`,
      args: [
        a.seriesInstanceUid,
        a.studyInstanceUid,
        a.modality,
        a.seriesNumber,
        a.seriesDescription,
        a.seriesDate,
        a.seriesTime,
        a.bodyPartExamined,
      ],
    },
    {
      sql: `INSERT INTO instances (sop_instance_uid, series_instance_uid, study_instance_uid, sop_class_uid,
        instance_number, transfer_syntax_uid, path, file_size, dataset_offset, dataset_size, sha256,
        calling_aet, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (sop_instance_uid) DO UPDATE SET path = excluded.path, file_size = excluded.file_size,
        dataset_offset = excluded.dataset_offset, dataset_size = excluded.dataset_size,
        sha256 = excluded.sha256, transfer_syntax_uid = excluded.transfer_syntax_uid,
        received_at = excluded.received_at, removed_at = NULL`,
      args: [
        a.sopInstanceUid,
        a.seriesInstanceUid,
        a.studyInstanceUid,
        a.sopClassUid,
        a.instanceNumber,
        file.transferSyntaxUid,
        file.path,
        file.fileSize,
        file.datasetOffset,
        file.datasetSize,
        file.sha256,
        file.callingAet,
        now,
      ],
    },
    ...countStatements(a.studyInstanceUid, a.seriesInstanceUid, a.sopClassUid, patientPk, who),
  ];
}

/** Recounts one series, its study and its patient (indexed counts: cheap at any study size). */
function countStatements(
  studyUid: string,
  seriesUid: string,
  sopClassUid: string,
  patientPk: string,
  who: string[],
): InStatement[] {
  return [
    {
      sql: `UPDATE series SET num_instances = (SELECT count(*) FROM instances WHERE series_instance_uid = ?)
        WHERE series_instance_uid = ?`,
      args: [seriesUid, seriesUid],
    },
    {
      sql: `UPDATE studies SET
        num_series = (SELECT count(*) FROM series WHERE study_instance_uid = ?1),
        num_instances = (SELECT count(*) FROM instances WHERE study_instance_uid = ?1),
        modalities_in_study = coalesce((SELECT group_concat(m, '\\') FROM (SELECT DISTINCT modality AS m
          FROM series WHERE study_instance_uid = ?1 AND modality <> '' ORDER BY m)), ''),
        sop_classes_in_study = CASE
          WHEN instr('\\' || sop_classes_in_study || '\\', '\\' || ?2 || '\\') > 0 THEN sop_classes_in_study
          WHEN sop_classes_in_study = '' THEN ?2
          ELSE sop_classes_in_study || '\\' || ?2 END
        WHERE study_instance_uid = ?1`,
      args: [studyUid, sopClassUid],
    },
    {
      sql: `UPDATE patients SET
        num_studies = (SELECT count(*) FROM studies WHERE patient_pk = patients.pk),
        num_series = (SELECT coalesce(sum(num_series), 0) FROM studies WHERE patient_pk = patients.pk),
        num_instances = (SELECT coalesce(sum(num_instances), 0) FROM studies WHERE patient_pk = patients.pk)
        WHERE pk = ${patientPk}`,
      args: who,
    },
  ];
}

/** The index row facts of an instance, if it is indexed (read on the writer connection: no wait). */
export function existingInstance(
  db: Database,
  sopInstanceUid: string,
): { sha256: string; path: string } | undefined {
  return db.statement("SELECT sha256, path FROM instances WHERE sop_instance_uid = ?").get(sopInstanceUid) as
    | { sha256: string; path: string }
    | undefined;
}
