ALTER TABLE "sites" ADD COLUMN "uplink_mbps" double precision;--> statement-breakpoint
ALTER TABLE "transfers" ADD COLUMN "windows" text;