CREATE TABLE "api_tokens" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"secret_hash" text NOT NULL,
	"sites" text,
	"created_at" bigint NOT NULL,
	"revoked_at" bigint,
	"last_used_at" bigint
);
--> statement-breakpoint
CREATE TABLE "audit" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"at" bigint NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"target" text,
	"detail" text
);
--> statement-breakpoint
CREATE TABLE "batches" (
	"id" text PRIMARY KEY NOT NULL,
	"kind" text NOT NULL,
	"filename" text NOT NULL,
	"status" text NOT NULL,
	"sites" text NOT NULL,
	"rows" text NOT NULL,
	"results" text,
	"transfer_id" text,
	"created_by" text NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id_hash" text PRIMARY KEY NOT NULL,
	"user" text NOT NULL,
	"csrf" text NOT NULL,
	"created_at" bigint NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sites" (
	"name" text PRIMARY KEY NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"enrollment_hash" text,
	"enrollment_expires_at" bigint,
	"credential_hash" text,
	"created_at" bigint NOT NULL,
	"enrolled_at" bigint,
	"revoked_at" bigint,
	"last_seen_at" bigint,
	"agent_version" text,
	"remote_address" text,
	"queue_depth" bigint,
	"rtt_ms" double precision
);
--> statement-breakpoint
CREATE TABLE "transfer_tasks" (
	"id" text PRIMARY KEY NOT NULL,
	"transfer_id" text NOT NULL,
	"study_instance_uid" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"objects" bigint,
	"done" bigint DEFAULT 0 NOT NULL,
	"failed" bigint DEFAULT 0 NOT NULL,
	"missing" bigint DEFAULT 0 NOT NULL,
	"last_error" text,
	"attempts" bigint DEFAULT 0 NOT NULL,
	"held" bigint DEFAULT 0 NOT NULL,
	"pseudo_patient_id" text,
	"pseudo_patient_name" text,
	"pseudo_study_instance_uid" text,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "transfers" (
	"id" text PRIMARY KEY NOT NULL,
	"source_site" text NOT NULL,
	"source_node" text,
	"destination_site" text NOT NULL,
	"destination_node" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"priority" bigint DEFAULT 0 NOT NULL,
	"window_start" text,
	"window_end" text,
	"window_zone" text,
	"bandwidth_mbps" double precision,
	"deid" text,
	"created_by" text NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"name" text PRIMARY KEY NOT NULL,
	"role" text NOT NULL,
	"password_hash" text NOT NULL,
	"created_at" bigint NOT NULL,
	"disabled_at" bigint
);
