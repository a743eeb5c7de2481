DROP INDEX `transfer_tasks_transfer`;--> statement-breakpoint
CREATE INDEX `transfer_tasks_page` ON `transfer_tasks` (`transfer_id`,`id`);--> statement-breakpoint
CREATE INDEX `transfer_tasks_transfer` ON `transfer_tasks` (`transfer_id`,`status`,`id`);