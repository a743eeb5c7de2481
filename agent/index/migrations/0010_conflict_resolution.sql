ALTER TABLE `conflicts` ADD `resolution` text;--> statement-breakpoint
ALTER TABLE `conflicts` ADD `resolved_at` integer;