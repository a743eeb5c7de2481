CREATE TABLE `credential_rotations` (
	`id` text PRIMARY KEY NOT NULL,
	`site` text NOT NULL,
	`actor` text NOT NULL,
	`state` text NOT NULL,
	`message` text,
	`hub_id` text,
	`requested_at` integer NOT NULL,
	`finished_at` integer,
	`grace_until` integer
);
--> statement-breakpoint
ALTER TABLE `sites` ADD `older_credentials` text;--> statement-breakpoint
ALTER TABLE `sites` ADD `credential_rotated_at` integer;