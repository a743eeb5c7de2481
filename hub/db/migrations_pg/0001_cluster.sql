CREATE TABLE "cluster_settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "hubs" (
	"id" text PRIMARY KEY NOT NULL,
	"cluster_url" text,
	"version" text,
	"started_at" bigint NOT NULL,
	"heartbeat_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "site_leases" (
	"site" text PRIMARY KEY NOT NULL,
	"hub_id" text NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "transfers" ADD COLUMN "driver_hub" text;--> statement-breakpoint
ALTER TABLE "transfers" ADD COLUMN "driver_expires_at" bigint;