CREATE TABLE "credential_rotations" (
	"id" text PRIMARY KEY NOT NULL,
	"site" text NOT NULL,
	"actor" text NOT NULL,
	"state" text NOT NULL,
	"message" text,
	"hub_id" text,
	"requested_at" bigint NOT NULL,
	"finished_at" bigint,
	"grace_until" bigint
);
--> statement-breakpoint
ALTER TABLE "sites" ADD COLUMN "older_credentials" text;--> statement-breakpoint
ALTER TABLE "sites" ADD COLUMN "credential_rotated_at" bigint;