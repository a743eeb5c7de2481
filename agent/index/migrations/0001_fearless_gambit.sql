CREATE TABLE `destinations` (
	`name` text PRIMARY KEY NOT NULL,
	`paused` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `queue` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`sop_instance_uid` text NOT NULL,
	`route` text NOT NULL,
	`destination` text NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` integer NOT NULL,
	`last_status` integer,
	`last_error` text DEFAULT '' NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`done_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `queue_object_route` ON `queue` (`sop_instance_uid`,`route`,`destination`);--> statement-breakpoint
CREATE INDEX `queue_due` ON `queue` (`destination`,`state`,`next_attempt_at`);