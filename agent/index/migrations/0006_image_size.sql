ALTER TABLE `instances` ADD `rows` integer;--> statement-breakpoint
ALTER TABLE `instances` ADD `columns` integer;--> statement-breakpoint
ALTER TABLE `instances` ADD `bits_allocated` integer;--> statement-breakpoint
ALTER TABLE `instances` ADD `number_of_frames` integer;