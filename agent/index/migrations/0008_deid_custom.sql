ALTER TABLE `deid_routes` ADD `custom` text;--> statement-breakpoint
ALTER TABLE `deid_routes` ADD `clinical_trial` text;