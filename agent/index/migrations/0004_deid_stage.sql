CREATE TABLE `deid_copies` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`route` text NOT NULL,
	`source_sop_instance_uid` text NOT NULL,
	`sop_instance_uid` text NOT NULL,
	`sop_class_uid` text NOT NULL,
	`transfer_syntax_uid` text NOT NULL,
	`path` text NOT NULL,
	`file_size` integer NOT NULL,
	`dataset_offset` integer NOT NULL,
	`dataset_size` integer NOT NULL,
	`sha256` text NOT NULL,
	`patient_id` text DEFAULT '' NOT NULL,
	`patient_name` text DEFAULT '' NOT NULL,
	`study_instance_uid` text DEFAULT '' NOT NULL,
	`series_instance_uid` text DEFAULT '' NOT NULL,
	`created_at` integer NOT NULL,
	`removed_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `deid_copies_source` ON `deid_copies` (`source_sop_instance_uid`,`route`);--> statement-breakpoint
CREATE INDEX `deid_copies_route` ON `deid_copies` (`route`);--> statement-breakpoint
CREATE TABLE `deid_routes` (
	`route` text PRIMARY KEY NOT NULL,
	`options` text NOT NULL,
	`allow_burned_in` integer DEFAULT 0 NOT NULL,
	`pseudonyms` text,
	`destinations` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `queue` ADD `copy_id` integer;--> statement-breakpoint
CREATE INDEX `queue_copy` ON `queue` (`copy_id`);--> statement-breakpoint
CREATE INDEX `queue_route` ON `queue` (`route`);