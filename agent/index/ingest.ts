/** Committing one archived object to the index, counts and lists included, in one transaction. */
import { eq, sql } from "drizzle-orm";
import type { InstanceAttributes } from "@conduit/shared/dicom/header.ts";
import type { WriteTx } from "./db.ts";
import { instances, patients, series, studies } from "./schema.ts";

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

/** Inserts or updates the patient, study and series rows, inserts the instance, refreshes counts. */
export async function indexInstance(tx: WriteTx, a: InstanceAttributes, file: StoredFile): Promise<void> {
  const now = Date.now();
  const [patient] = await tx.insert(patients).values({
    patientId: a.patientId,
    issuerOfPatientId: a.issuerOfPatientId,
    patientName: a.patientName,
    patientBirthDate: a.patientBirthDate,
    patientSex: a.patientSex,
  }).onConflictDoUpdate({
    target: [patients.patientId, patients.issuerOfPatientId],
    set: {
      patientName: sql`coalesce(nullif(excluded.patient_name, ''), ${patients.patientName})`,
      patientBirthDate: sql`coalesce(nullif(excluded.patient_birth_date, ''), ${patients.patientBirthDate})`,
      patientSex: sql`coalesce(nullif(excluded.patient_sex, ''), ${patients.patientSex})`,
    },
  }).returning({ pk: patients.pk });

  await tx.insert(studies).values({
    studyInstanceUid: a.studyInstanceUid,
    patientPk: patient.pk,
    studyDate: a.studyDate,
    studyTime: a.studyTime,
    accessionNumber: a.accessionNumber,
    referringPhysicianName: a.referringPhysicianName,
    studyDescription: a.studyDescription,
    studyId: a.studyId,
    specificCharacterSet: a.specificCharacterSet,
    updatedAt: now,
  }).onConflictDoUpdate({
    target: studies.studyInstanceUid,
    set: { updatedAt: now },
  });

  await tx.insert(series).values({
    seriesInstanceUid: a.seriesInstanceUid,
    studyInstanceUid: a.studyInstanceUid,
    modality: a.modality,
    seriesNumber: a.seriesNumber,
    seriesDescription: a.seriesDescription,
    seriesDate: a.seriesDate,
    seriesTime: a.seriesTime,
    bodyPartExamined: a.bodyPartExamined,
  }).onConflictDoNothing();

  await tx.insert(instances).values({
    sopInstanceUid: a.sopInstanceUid,
    seriesInstanceUid: a.seriesInstanceUid,
    studyInstanceUid: a.studyInstanceUid,
    sopClassUid: a.sopClassUid,
    instanceNumber: a.instanceNumber,
    transferSyntaxUid: file.transferSyntaxUid,
    path: file.path,
    fileSize: file.fileSize,
    datasetOffset: file.datasetOffset,
    datasetSize: file.datasetSize,
    sha256: file.sha256,
    callingAet: file.callingAet,
    receivedAt: now,
  }).onConflictDoUpdate({
    target: instances.sopInstanceUid,
    set: {
      path: file.path,
      fileSize: file.fileSize,
      datasetOffset: file.datasetOffset,
      datasetSize: file.datasetSize,
      sha256: file.sha256,
      transferSyntaxUid: file.transferSyntaxUid,
      receivedAt: now,
    },
  });

  await refreshCounts(tx, a.studyInstanceUid, a.seriesInstanceUid, patient.pk);
}

/** Recomputes the derived columns of one series, its study and its patient. */
export async function refreshCounts(tx: WriteTx, studyUid: string, seriesUid: string, patientPk: number) {
  await tx.run(sql`UPDATE series SET num_instances =
    (SELECT count(*) FROM instances WHERE series_instance_uid = ${seriesUid})
    WHERE series_instance_uid = ${seriesUid}`);
  await tx.run(sql`UPDATE studies SET
    num_series = (SELECT count(*) FROM series WHERE study_instance_uid = ${studyUid}),
    num_instances = (SELECT count(*) FROM instances WHERE study_instance_uid = ${studyUid}),
    modalities_in_study = coalesce((SELECT group_concat(m, '\\') FROM (SELECT DISTINCT modality AS m
      FROM series WHERE study_instance_uid = ${studyUid} AND modality <> '' ORDER BY m)), ''),
    sop_classes_in_study = coalesce((SELECT group_concat(c, '\\') FROM (SELECT DISTINCT sop_class_uid AS c
      FROM instances WHERE study_instance_uid = ${studyUid} ORDER BY c)), '')
    WHERE study_instance_uid = ${studyUid}`);
  await tx.run(sql`UPDATE patients SET
    num_studies = (SELECT count(*) FROM studies WHERE patient_pk = ${patientPk}),
    num_series = (SELECT coalesce(sum(num_series), 0) FROM studies WHERE patient_pk = ${patientPk}),
    num_instances = (SELECT coalesce(sum(num_instances), 0) FROM studies WHERE patient_pk = ${patientPk})
    WHERE pk = ${patientPk}`);
}

/** The index row of an instance, if any. */
export async function findInstance(db: Pick<WriteTx, "select">, sopInstanceUid: string) {
  const rows = await db.select().from(instances).where(eq(instances.sopInstanceUid, sopInstanceUid)).limit(1);
  return rows[0];
}
