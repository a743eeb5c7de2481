CREATE TABLE `transfer_tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`transfer_id` text NOT NULL,
	`study_instance_uid` text NOT NULL,
	`status` text DEFAULT 'pending' NOT NULL,
	`objects` integer,
	`done` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`missing` integer DEFAULT 0 NOT NULL,
	`last_error` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `transfers` (
	`id` text PRIMARY KEY NOT NULL,
	`source_site` text NOT NULL,
	`source_node` text,
	`destination_site` text NOT NULL,
	`destination_node` text,
	`status` text DEFAULT 'pending' NOT NULL,
	`priority` integer DEFAULT 0 NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
