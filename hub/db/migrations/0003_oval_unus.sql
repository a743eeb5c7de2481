CREATE TABLE `batches` (
	`id` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`filename` text NOT NULL,
	`status` text NOT NULL,
	`sites` text NOT NULL,
	`rows` text NOT NULL,
	`results` text,
	`transfer_id` text,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
