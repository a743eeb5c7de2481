/**
 * The agent's index: patient, study, series and instance, with what C-FIND and QIDO need at each
 * level. Study and series rows carry counts and modality/SOP class lists, kept current on ingest.
 */
import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const patients = sqliteTable("patients", {
  pk: integer("pk").primaryKey({ autoIncrement: true }),
  patientId: text("patient_id").notNull(),
  issuerOfPatientId: text("issuer_of_patient_id").notNull().default(""),
  patientName: text("patient_name").notNull().default(""),
  patientBirthDate: text("patient_birth_date").notNull().default(""),
  patientSex: text("patient_sex").notNull().default(""),
  numStudies: integer("num_studies").notNull().default(0),
  numSeries: integer("num_series").notNull().default(0),
  numInstances: integer("num_instances").notNull().default(0),
}, (t) => [
  uniqueIndex("patients_identity").on(t.patientId, t.issuerOfPatientId),
  index("patients_name").on(t.patientName),
  // C-FIND and QIDO match a name by its alphabetic group folded to lower case (query/matching.ts): by this
  // expression, exactly as written there, a name or a prefix (`SMITH*`) is a range of this index.
  index("patients_name_folded").on(sql`lower(substr(patient_name, 1, instr(patient_name || '=', '=') - 1))`),
]);

export const studies = sqliteTable("studies", {
  studyInstanceUid: text("study_instance_uid").primaryKey(),
  patientPk: integer("patient_pk").notNull().references(() => patients.pk),
  studyDate: text("study_date").notNull().default(""),
  studyTime: text("study_time").notNull().default(""),
  accessionNumber: text("accession_number").notNull().default(""),
  referringPhysicianName: text("referring_physician_name").notNull().default(""),
  studyDescription: text("study_description").notNull().default(""),
  studyId: text("study_id").notNull().default(""),
  /** Backslash-separated, sorted. */
  modalitiesInStudy: text("modalities_in_study").notNull().default(""),
  sopClassesInStudy: text("sop_classes_in_study").notNull().default(""),
  specificCharacterSet: text("specific_character_set").notNull().default(""),
  numSeries: integer("num_series").notNull().default(0),
  numInstances: integer("num_instances").notNull().default(0),
  updatedAt: integer("updated_at").notNull(),
  /**
   * The patient as this study's objects name it (its first object's values, empty ones filled by later
   * objects): what C-FIND and QIDO answer at the study level and below. The patient row (keyed by PatientID
   * and its issuer) may hold another patient's values, when two patients share an ID (an empty one).
   */
  patientName: text("patient_name").notNull().default(""),
  patientBirthDate: text("patient_birth_date").notNull().default(""),
  patientSex: text("patient_sex").notNull().default(""),
  /** The patient's age at this study (0010,1010) and the institution (0008,0080), as patient_name is kept. */
  patientAge: text("patient_age").notNull().default(""),
  institutionName: text("institution_name").notNull().default(""),
}, (t) => [
  index("studies_patient").on(t.patientPk),
  // The patients_name_folded expression over the study's own copy of the name (query/matching.ts).
  index("studies_patient_name_folded").on(
    sql`lower(substr(patient_name, 1, instr(patient_name || '=', '=') - 1))`,
  ),
  index("studies_date").on(t.studyDate),
  index("studies_accession").on(t.accessionNumber),
]);

export const series = sqliteTable("series", {
  seriesInstanceUid: text("series_instance_uid").primaryKey(),
  studyInstanceUid: text("study_instance_uid").notNull().references(() => studies.studyInstanceUid),
  modality: text("modality").notNull().default(""),
  seriesNumber: text("series_number").notNull().default(""),
  seriesDescription: text("series_description").notNull().default(""),
  seriesDate: text("series_date").notNull().default(""),
  seriesTime: text("series_time").notNull().default(""),
  bodyPartExamined: text("body_part_examined").notNull().default(""),
  numInstances: integer("num_instances").notNull().default(0),
}, (t) => [index("series_study").on(t.studyInstanceUid)]);

export const instances = sqliteTable(
  "instances",
  {
    sopInstanceUid: text("sop_instance_uid").primaryKey(),
    seriesInstanceUid: text("series_instance_uid").notNull().references(() => series.seriesInstanceUid),
    studyInstanceUid: text("study_instance_uid").notNull(),
    sopClassUid: text("sop_class_uid").notNull(),
    instanceNumber: text("instance_number").notNull().default(""),
    /**
     * Returned by instance-level C-FIND and QIDO-RS; null when the object has none, and for rows
     * indexed before migration 0006 (their headers were not read again).
     */
    rows: integer("rows"),
    columns: integer("columns"),
    bitsAllocated: integer("bits_allocated"),
    /** Only when the object has the attribute (single-frame objects often leave it out). */
    numberOfFrames: integer("number_of_frames"),
    transferSyntaxUid: text("transfer_syntax_uid").notNull(),
    /** Path relative to the data directory. */
    path: text("path").notNull(),
    fileSize: integer("file_size").notNull(),
    /** Offset and size of the data set within the file (after group 0002). */
    datasetOffset: integer("dataset_offset").notNull(),
    datasetSize: integer("dataset_size").notNull(),
    /**
     * SHA-256 of the data set bytes (hex); '' (NOT_HASHED) for an object received by C-STORE until
     * ingest/backfill.ts has hashed it.
     */
    sha256: text("sha256").notNull(),
    callingAet: text("calling_aet").notNull().default(""),
    receivedAt: integer("received_at").notNull(),
    /** Set when retention removed the file: the row stays as a tombstone. */
    removedAt: integer("removed_at"),
  },
  (t) => [
    index("instances_series").on(t.seriesInstanceUid),
    index("instances_study").on(t.studyInstanceUid),
    index("instances_not_hashed").on(t.receivedAt).where(sql`${t.sha256} = ''`),
    // Retention by age and by size takes the oldest objects still archived first.
    index("instances_live_received").on(t.receivedAt).where(sql`${t.removedAt} IS NULL`),
  ],
);

/**
 * The forward queue: one row per (object, route, destination). States: pending (due at
 * next_attempt_at), in_flight (claimed by a worker), committing (stored at a node that commits, awaiting
 * its Storage Commitment report), failed (last attempt failed; due again at
 * next_attempt_at), done, dead (out of attempts or a permanent failure; replayable).
 */
export const queue = sqliteTable("queue", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  sopInstanceUid: text("sop_instance_uid").notNull(),
  route: text("route").notNull(),
  /** A configured node name (a site/node pair once the tunnel exists). */
  destination: text("destination").notNull(),
  state: text("state", { enum: ["pending", "in_flight", "failed", "committing", "done", "dead"] }).notNull(),
  attempts: integer("attempts").notNull().default(0),
  nextAttemptAt: integer("next_attempt_at").notNull(),
  lastStatus: integer("last_status"),
  lastError: text("last_error").notNull().default(""),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  doneAt: integer("done_at"),
  /** Set when the row forwards a de-identified copy (deid_copies.id) rather than the archived object. */
  copyId: integer("copy_id"),
  /**
   * Storage Commitment (nodes with `storageCommitment`): the Transaction UID of the last N-ACTION that asked
   * the node to commit the row's object, while the row is `committing` (stored, awaiting the report; due to
   * be asked again at next_attempt_at), and how many times it was asked.
   */
  commitUid: text("commit_uid"),
  commitAsks: integer("commit_asks").notNull().default(0),
}, (t) => [
  index("queue_committing").on(t.commitUid).where(sql`${t.state} = 'committing'`),
  uniqueIndex("queue_object_route").on(t.sopInstanceUid, t.route, t.destination),
  index("queue_due").on(t.destination, t.state, t.nextAttemptAt),
  index("queue_copy").on(t.copyId),
  // A route's rows in the order they were queued (a transfer's objects, a page at a time).
  index("queue_route").on(t.route),
  // A route's rows by state, and the last error that says why (migration 0014): a transfer's progress
  // counts its rows not yet done from this index alone (done ones from queue_route_done_counts).
  index("queue_route_state").on(t.route, t.state, t.lastError),
  // By state: the few rows not done among millions done (start-up recovery, the status summary, the
  // forwarder's next due time), and done rows by destination and delivery time (pruning, the oldest).
  index("queue_state").on(t.state, t.destination, t.doneAt),
]);

/**
 * Done queue rows counted by destination, kept by triggers on `queue` (migration 0011): the status the hub
 * asks every few seconds and each /metrics scrape read them here rather than counting millions of rows.
 */
export const queueDoneCounts = sqliteTable("queue_done_counts", {
  destination: text("destination").primaryKey(),
  count: integer("count").notNull().default(0),
});

/**
 * Done queue rows counted by route, de-identification stage rows left out, kept by triggers on `queue`
 * (migration 0014): a transfer's progress reads its done count here rather than counting its route's rows.
 * A route's row goes with its last done row (migration 0015): a missing row is 0.
 */
export const queueRouteDoneCounts = sqliteTable("queue_route_done_counts", {
  route: text("route").primaryKey(),
  count: integer("count").notNull().default(0),
});

/**
 * Archived objects whose dead queue rows were discarded (`queue discard`, `queue.keepDeadDays`), with when
 * (migration 0013): `archive.removeAfterForwardSeconds` then removes the object after its delay as it would a
 * forwarded one, while an object that never had a row (no route took it) is never removed by that rule. The
 * row goes with the object's file (retention) or with the object (erasure).
 */
export const queueDiscarded = sqliteTable("queue_discarded", {
  sopInstanceUid: text("sop_instance_uid").primaryKey()
    .references(() => instances.sopInstanceUid, { onDelete: "cascade" }),
  discardedAt: integer("discarded_at").notNull(),
});

/**
 * De-identified copies made by a route's (or a transfer's) de-identification stage, one per archived
 * object and route, under `<data>/deid/`. The copy's UIDs and patient identifiers are the pseudonymous
 * ones; the link to the original (source_sop_instance_uid) never leaves the site. A copy's file is
 * removed once every row forwarding it is done (removed_at set); the row goes with the queue's done rows.
 */
export const deidCopies = sqliteTable("deid_copies", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  route: text("route").notNull(),
  sourceSopInstanceUid: text("source_sop_instance_uid").notNull(),
  sopInstanceUid: text("sop_instance_uid").notNull(),
  sopClassUid: text("sop_class_uid").notNull(),
  transferSyntaxUid: text("transfer_syntax_uid").notNull(),
  /** Relative to the data directory. */
  path: text("path").notNull(),
  fileSize: integer("file_size").notNull(),
  datasetOffset: integer("dataset_offset").notNull(),
  datasetSize: integer("dataset_size").notNull(),
  sha256: text("sha256").notNull(),
  patientId: text("patient_id").notNull().default(""),
  patientName: text("patient_name").notNull().default(""),
  studyInstanceUid: text("study_instance_uid").notNull().default(""),
  seriesInstanceUid: text("series_instance_uid").notNull().default(""),
  createdAt: integer("created_at").notNull(),
  removedAt: integer("removed_at"),
}, (t) => [
  uniqueIndex("deid_copies_source").on(t.sourceSopInstanceUid, t.route),
  index("deid_copies_route").on(t.route),
]);

/**
 * What a transfer asked of its de-identification stage (routes take theirs from the configuration):
 * the PS3.15 options, the burned-in policy, the per-patient pseudonym table (original Patient ID to
 * pseudonym, which stays at this site), the custom profile and Clinical Trial attributes, and the
 * destinations the copies go to. Written once, at the
 * transfer's first send, so a retried send keeps the pseudonyms it began with.
 */
export const deidRoutes = sqliteTable("deid_routes", {
  route: text("route").primaryKey(),
  /** JSON list of option names. */
  options: text("options").notNull(),
  allowBurnedIn: integer("allow_burned_in").notNull().default(0),
  /** JSON object, original Patient ID -> pseudonym; null when none was given. */
  pseudonyms: text("pseudonyms"),
  /** JSON list of destination names. */
  destinations: text("destinations").notNull(),
  /** JSON object: the transfer's custom profile as given (a profile file's object); null when none. */
  custom: text("custom"),
  /** JSON object: the Clinical Trial attributes to set; null when none. */
  clinicalTrial: text("clinical_trial"),
  createdAt: integer("created_at").notNull(),
});

/** Per-destination switches (pause). */
export const destinations = sqliteTable("destinations", {
  name: text("name").primaryKey(),
  paused: integer("paused").notNull().default(0),
  updatedAt: integer("updated_at").notNull(),
});

/**
 * The archive's objects (index rows with a file: not removed, path set) and their bytes, one row (id 1) kept
 * by triggers on `instances` (migration 0011): retention by size reads it at every sweep rather than summing
 * millions of rows.
 */
export const archiveTotals = sqliteTable("archive_totals", {
  id: integer("id").primaryKey(),
  objects: integer("objects").notNull().default(0),
  bytes: integer("bytes").notNull().default(0),
});

/**
 * Objects received again under a known SOP Instance UID with other bytes, and what the duplicates
 * policy did with them (keepFirst: discarded; keepLast: replaced the stored one; keepBoth: kept aside
 * at `kept_path`).
 */
export const conflicts = sqliteTable("conflicts", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  sopInstanceUid: text("sop_instance_uid").notNull(),
  storedSha256: text("stored_sha256").notNull(),
  receivedSha256: text("received_sha256").notNull(),
  policy: text("policy", { enum: ["keepFirst", "keepLast", "keepBoth"] }).notNull(),
  keptPath: text("kept_path"),
  callingAet: text("calling_aet").notNull().default(""),
  receivedAt: integer("received_at").notNull(),
  /**
   * How an operator settled a keepBoth conflict (`agent conflicts resolve`): `stored` (the kept copy
   * deleted) or `received` (the kept copy made the archived object). Set before the files change; with
   * `resolved_at` still null the resolution is under way, and a start after a crash finishes it.
   */
  resolution: text("resolution", { enum: ["stored", "received"] }),
  /** When the resolution was done (epoch ms); null while unresolved or under way. */
  resolvedAt: integer("resolved_at"),
}, (t) => [index("conflicts_sop").on(t.sopInstanceUid)]);
