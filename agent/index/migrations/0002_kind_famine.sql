CREATE TABLE `conflicts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`sop_instance_uid` text NOT NULL,
	`stored_sha256` text NOT NULL,
	`received_sha256` text NOT NULL,
	`policy` text NOT NULL,
	`kept_path` text,
	`calling_aet` text DEFAULT '' NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `conflicts_sop` ON `conflicts` (`sop_instance_uid`);