/**
 * The hub's tables: the one description of its schema, written with drizzle's SQLite builders. The
 * PostgreSQL tables are derived from it (tables_pg.ts); migrations for both dialects are generated from
 * it (`deno task db:generate:hub`). Code imports the tables from schema.ts, which hands out the
 * dialect of the open database.
 */
import { index, integer, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * One row per site. Secrets are kept only as SHA-256 hashes: the enrollment token until it is
 * used, then the site credential.
 */
export const sites = sqliteTable("sites", {
  name: text("name").primaryKey(),
  /** pending (never enrolled), offline, online, revoked */
  state: text("state").notNull().default("pending"),
  enrollmentHash: text("enrollment_hash"),
  enrollmentExpiresAt: integer("enrollment_expires_at"),
  credentialHash: text("credential_hash"),
  /**
   * Credentials a rotation replaced that are still accepted, a JSON list of `{ hash, until }` (`until`
   * null: until the agent connects with the newest, the handoff being unconfirmed); null for none.
   */
  olderCredentials: text("older_credentials"),
  /** When the agent confirmed it saved the newest credential (credential rotation). */
  credentialRotatedAt: integer("credential_rotated_at"),
  createdAt: integer("created_at").notNull(),
  enrolledAt: integer("enrolled_at"),
  revokedAt: integer("revoked_at"),
  lastSeenAt: integer("last_seen_at"),
  agentVersion: text("agent_version"),
  remoteAddress: text("remote_address"),
  queueDepth: integer("queue_depth"),
  /**
   * Of the queue depth, objects stored at a node that commits and awaiting its Storage Commitment report
   * (null: unknown, an agent older than the `commitment-state` tunnel feature).
   */
  queueCommitting: integer("queue_committing"),
  /**
   * Of the queue depth, rows a window holds until it opens (a route's forwarding hours, a transfer's window)
   * (null: unknown, an agent older than the `queue-held` tunnel feature).
   */
  queueHeld: integer("queue_held"),
  rttMs: real("rtt_ms"),
  /**
   * The tunnel's bytes per second (in and out), a JSON list of one sample per heartbeat, the latest last (at
   * most 24), as the hub holding the tunnel last wrote it (null: none yet in this session, or offline).
   */
  tunnelThroughput: text("tunnel_throughput"),
  /** Cap on everything the hub relays from the site, megabits per second (null: none); set by an admin. */
  uplinkMbps: real("uplink_mbps"),
  /** Cap on everything the hub relays to the site, megabits per second (null: none); set by an admin. */
  downlinkMbps: real("downlink_mbps"),
});

export type SiteRow = typeof sites.$inferSelect;

/**
 * API tokens for DICOMweb and tRPC clients (`admin token create`). Only the SHA-256 of the secret is
 * kept. `sites` is a JSON list of the sites the token may reach, or null for every site.
 */
export const apiTokens = sqliteTable("api_tokens", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  role: text("role").notNull(),
  secretHash: text("secret_hash").notNull(),
  sites: text("sites"),
  createdAt: integer("created_at").notNull(),
  revokedAt: integer("revoked_at"),
  lastUsedAt: integer("last_used_at"),
});

export type ApiTokenRow = typeof apiTokens.$inferSelect;

/**
 * A transfer job: studies from one site (its archive or a node) to another site (its archive or a
 * node). Status: pending, in_progress, success, warning, failure, canceled.
 */
export const transfers = sqliteTable("transfers", {
  id: text("id").primaryKey(),
  sourceSite: text("source_site").notNull(),
  sourceNode: text("source_node"),
  destinationSite: text("destination_site").notNull(),
  destinationNode: text("destination_node"),
  status: text("status").notNull().default("pending"),
  priority: integer("priority").notNull().default(0),
  /** Time window (hub/transfers/window.ts): HH:MM start and end, IANA zone (the hub's when null). */
  windowStart: text("window_start"),
  windowEnd: text("window_end"),
  windowZone: text("window_zone"),
  /**
   * The window as given when it names days or is several (JSON: one window or a list); null for a
   * single window of every day, kept in the three columns above alone. With it, those columns hold its
   * first window, which is what a hub from before weekday windows reads.
   */
  windows: text("windows"),
  /** Cap on the job's relayed bytes, in megabits per second (null: none). */
  bandwidthMbps: real("bandwidth_mbps"),
  /**
   * De-identification at the source (JSON: profile, options, allowBurnedIn, and a per-patient pseudonym
   * table until every study has reached its source, then dropped), or null. Never a key.
   */
  deid: text("deid"),
  /**
   * Which hub drives the job (hub/cluster/transfer_lease.ts), and until when unless it renews: with
   * several hubs on one database, one at a time; another takes the job over once the lease runs out.
   */
  driverHub: text("driver_hub"),
  driverExpiresAt: integer("driver_expires_at"),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
  /**
   * The idempotency key `transfers.create` was given, as the SHA-256 (hex) of who created the job and the
   * key: a create with the same key by the same caller answers this job instead of making another. Null
   * without one (any number of jobs).
   */
  idempotencyKey: text("idempotency_key"),
  /** With a key: the SHA-256 (hex) of the request it came with; the same key with another request is refused. */
  requestHash: text("request_hash"),
}, (t) => [
  // Two creates with one key at once: the second insert fails here, and it answers the first's job.
  uniqueIndex("transfers_idempotency_key").on(t.idempotencyKey),
  // Each pass of the orchestrator (every second) reads the jobs pending or in progress, a handful of a
  // year's thousands; the console's list and dashboard read the newest first, a page at a time.
  index("transfers_status").on(t.status),
  index("transfers_created").on(t.createdAt, t.id),
]);

/**
 * One study of a transfer. Status: pending (not yet handed to the source), queued (at the source),
 * in_progress, success, warning (done, but the source's node did not give every object it listed),
 * failure, canceled. Counts mirror the source agent's queue rows for the task.
 */
export const transferTasks = sqliteTable("transfer_tasks", {
  id: text("id").primaryKey(),
  transferId: text("transfer_id").notNull(),
  studyInstanceUid: text("study_instance_uid").notNull(),
  /** Only these series of the study (a JSON array of Series Instance UIDs); null: the whole study. */
  series: text("series"),
  status: text("status").notNull().default("pending"),
  objects: integer("objects"),
  done: integer("done").notNull().default(0),
  failed: integer("failed").notNull().default(0),
  missing: integer("missing").notNull().default(0),
  lastError: text("last_error"),
  attempts: integer("attempts").notNull().default(0),
  /** Objects the source's de-identification held back (burned-in text policy). */
  held: integer("held").notNull().default(0),
  /** With de-identification: the pseudonymous identifiers the source reported (never the originals' map). */
  pseudoPatientId: text("pseudo_patient_id"),
  pseudoPatientName: text("pseudo_patient_name"),
  pseudoStudyInstanceUid: text("pseudo_study_instance_uid"),
  updatedAt: integer("updated_at").notNull(),
}, (t) => [
  // Each pass of the orchestrator looks for the tasks in a state (canceling), reads each active job's tasks
  // that are not over and counts them by state: none scans the whole table (the metrics read
  // transfer_task_counts). A job's page of tasks (`transfers.tasks`) walks its tasks by id,
  // all of them or those in one state, and stops at the page's end.
  index("transfer_tasks_status").on(t.status),
  index("transfer_tasks_transfer").on(t.transferId, t.status, t.id),
  index("transfer_tasks_page").on(t.transferId, t.id),
]);

/**
 * Transfer tasks by state, kept by triggers on `transfer_tasks` (hub migrations 0019 / 0013, filled there
 * from the rows already written): `/metrics` reads these few rows at each scrape rather than counting
 * every task ever run. A state whose tasks all moved on stays at 0. The triggers are hand-written in the
 * migrations (drizzle-kit does not know triggers): a migration that rebuilds `transfer_tasks` must create
 * them again (hub/db/task_counts_test.ts checks them against a count of the rows).
 */
export const transferTaskCounts = sqliteTable("transfer_task_counts", {
  status: text("status").primaryKey(),
  count: integer("count").notNull().default(0),
});

export type TransferRow = typeof transfers.$inferSelect;
export type TransferTaskRow = typeof transferTasks.$inferSelect;

/**
 * A batch: rows uploaded as CSV or XLSX, queried on sites (kind query) and, for kind transfer, moved
 * by a transfer job. `rows` holds the parsed rows, `results` what each found or why it failed (JSON).
 */
export const batches = sqliteTable("batches", {
  id: text("id").primaryKey(),
  kind: text("kind").notNull(),
  filename: text("filename").notNull(),
  status: text("status").notNull(),
  sites: text("sites").notNull(),
  rows: text("rows").notNull(),
  results: text("results"),
  /**
   * What `batch.status` shows, written with `results` (JSON, transfers/batch_summary.ts): the counts and
   * the errors, so a status (polled every few seconds) reads neither `rows` nor `results`. Null for a batch
   * from before it (its status then reads both).
   */
  summary: text("summary"),
  transferId: text("transfer_id"),
  createdBy: text("created_by").notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
}, (t) => [
  // The list reads a page of the newest; the search for batches whose hub stopped (every 30 s) reads the
  // running ones. Neither reads the others' rows and results (megabytes of JSON each).
  index("batches_created").on(t.createdAt, t.id),
  index("batches_status").on(t.status, t.updatedAt),
]);

/** Console users (`admin user add`). Passwords are Argon2id hashes (PHC strings). */
export const users = sqliteTable("users", {
  name: text("name").primaryKey(),
  role: text("role").notNull(),
  passwordHash: text("password_hash").notNull(),
  createdAt: integer("created_at").notNull(),
  disabledAt: integer("disabled_at"),
});

/** Console sessions: the cookie carries the id's secret; only its hash is kept, with a CSRF token. */
export const sessions = sqliteTable("sessions", {
  idHash: text("id_hash").primaryKey(),
  user: text("user").notNull(),
  csrf: text("csrf").notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

/** Who did what and when. */
export const audit = sqliteTable("audit", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  at: integer("at").notNull(),
  actor: text("actor").notNull(),
  action: text("action").notNull(),
  target: text("target"),
  detail: text("detail"),
}, (t) => [
  // The log is read newest first (at, then id), whole or by who, what or on what (hub/auth/audit.ts): each
  // filter's index ends in (at, id), so a page of a large log is a walk down one index, not a sort.
  index("audit_at").on(t.at, t.id),
  index("audit_actor").on(t.actor, t.at, t.id),
  index("audit_action").on(t.action, t.at, t.id),
  index("audit_target").on(t.target, t.at, t.id),
]);

/** The hubs of a cluster on one database: how the others reach each (its cluster URL), when it last beat. */
export const hubs = sqliteTable("hubs", {
  id: text("id").primaryKey(),
  clusterUrl: text("cluster_url"),
  version: text("version"),
  startedAt: integer("started_at").notNull(),
  heartbeatAt: integer("heartbeat_at").notNull(),
});

/**
 * Which hub holds each connected site's tunnel, until `expires_at` unless its heartbeat renews it: a
 * dead hub's sites are free again within seconds, and a hub takes a site over when its agent connects.
 */
export const siteLeases = sqliteTable("site_leases", {
  site: text("site").primaryKey(),
  hubId: text("hub_id").notNull(),
  expiresAt: integer("expires_at").notNull(),
});

/** Settings shared by the hubs of a cluster (the secret they authenticate to each other with). */
export const clusterSettings = sqliteTable("cluster_settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/**
 * Credential rotations asked for (`admin site rotate`, the API): the hub that holds the site's session
 * takes the request (`running`), hands the agent its new credential and records how it ended.
 */
export const credentialRotations = sqliteTable("credential_rotations", {
  id: text("id").primaryKey(),
  site: text("site").notNull(),
  actor: text("actor").notNull(),
  /** requested, running, done (confirmed), unconfirmed, refused, expired (no hub took it) */
  state: text("state").notNull(),
  message: text("message"),
  hubId: text("hub_id"),
  requestedAt: integer("requested_at").notNull(),
  finishedAt: integer("finished_at"),
  /** Until when the replaced credential is still accepted (done). */
  graceUntil: integer("grace_until"),
});
