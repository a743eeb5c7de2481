CREATE INDEX `batches_created` ON `batches` (`created_at`,`id`);--> statement-breakpoint
CREATE INDEX `batches_status` ON `batches` (`status`,`updated_at`);--> statement-breakpoint
CREATE INDEX `transfers_status` ON `transfers` (`status`);--> statement-breakpoint
CREATE INDEX `transfers_created` ON `transfers` (`created_at`,`id`);