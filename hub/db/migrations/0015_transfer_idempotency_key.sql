ALTER TABLE `transfers` ADD `idempotency_key` text;--> statement-breakpoint
ALTER TABLE `transfers` ADD `request_hash` text;--> statement-breakpoint
CREATE UNIQUE INDEX `transfers_idempotency_key` ON `transfers` (`idempotency_key`);