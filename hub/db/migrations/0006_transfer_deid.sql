ALTER TABLE `transfer_tasks` ADD `held` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `transfer_tasks` ADD `pseudo_patient_id` text;--> statement-breakpoint
ALTER TABLE `transfer_tasks` ADD `pseudo_patient_name` text;--> statement-breakpoint
ALTER TABLE `transfer_tasks` ADD `pseudo_study_instance_uid` text;--> statement-breakpoint
ALTER TABLE `transfers` ADD `deid` text;