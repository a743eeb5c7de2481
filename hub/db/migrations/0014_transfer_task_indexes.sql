CREATE INDEX `transfer_tasks_status` ON `transfer_tasks` (`status`);--> statement-breakpoint
CREATE INDEX `transfer_tasks_transfer` ON `transfer_tasks` (`transfer_id`,`status`);