ALTER TABLE `queue` ADD `commit_uid` text;--> statement-breakpoint
ALTER TABLE `queue` ADD `commit_asks` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `queue_committing` ON `queue` (`commit_uid`) WHERE "queue"."state" = 'committing';