CREATE TABLE `cluster_settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `hubs` (
	`id` text PRIMARY KEY NOT NULL,
	`cluster_url` text,
	`version` text,
	`started_at` integer NOT NULL,
	`heartbeat_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `site_leases` (
	`site` text PRIMARY KEY NOT NULL,
	`hub_id` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `transfers` ADD `driver_hub` text;--> statement-breakpoint
ALTER TABLE `transfers` ADD `driver_expires_at` integer;