ALTER TABLE `transfers` ADD `window_start` text;--> statement-breakpoint
ALTER TABLE `transfers` ADD `window_end` text;--> statement-breakpoint
ALTER TABLE `transfers` ADD `window_zone` text;--> statement-breakpoint
ALTER TABLE `transfers` ADD `bandwidth_mbps` real;