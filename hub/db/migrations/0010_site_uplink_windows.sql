ALTER TABLE `sites` ADD `uplink_mbps` real;--> statement-breakpoint
ALTER TABLE `transfers` ADD `windows` text;