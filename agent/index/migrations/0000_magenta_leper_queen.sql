CREATE TABLE `instances` (
	`sop_instance_uid` text PRIMARY KEY NOT NULL,
	`series_instance_uid` text NOT NULL,
	`study_instance_uid` text NOT NULL,
	`sop_class_uid` text NOT NULL,
	`instance_number` text DEFAULT '' NOT NULL,
	`transfer_syntax_uid` text NOT NULL,
	`path` text NOT NULL,
	`file_size` integer NOT NULL,
	`dataset_offset` integer NOT NULL,
	`dataset_size` integer NOT NULL,
	`sha256` text NOT NULL,
	`calling_aet` text DEFAULT '' NOT NULL,
	`received_at` integer NOT NULL,
	FOREIGN KEY (`series_instance_uid`) REFERENCES `series`(`series_instance_uid`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `instances_series` ON `instances` (`series_instance_uid`);--> statement-breakpoint
CREATE INDEX `instances_study` ON `instances` (`study_instance_uid`);--> statement-breakpoint
CREATE TABLE `patients` (
	`pk` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`patient_id` text NOT NULL,
	`issuer_of_patient_id` text DEFAULT '' NOT NULL,
	`patient_name` text DEFAULT '' NOT NULL,
	`patient_birth_date` text DEFAULT '' NOT NULL,
	`patient_sex` text DEFAULT '' NOT NULL,
	`num_studies` integer DEFAULT 0 NOT NULL,
	`num_series` integer DEFAULT 0 NOT NULL,
	`num_instances` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `patients_identity` ON `patients` (`patient_id`,`issuer_of_patient_id`);--> statement-breakpoint
CREATE INDEX `patients_name` ON `patients` (`patient_name`);--> statement-breakpoint
CREATE TABLE `series` (
	`series_instance_uid` text PRIMARY KEY NOT NULL,
	`study_instance_uid` text NOT NULL,
	`modality` text DEFAULT '' NOT NULL,
	`series_number` text DEFAULT '' NOT NULL,
	`series_description` text DEFAULT '' NOT NULL,
	`series_date` text DEFAULT '' NOT NULL,
	`series_time` text DEFAULT '' NOT NULL,
	`body_part_examined` text DEFAULT '' NOT NULL,
	`num_instances` integer DEFAULT 0 NOT NULL,
	FOREIGN KEY (`study_instance_uid`) REFERENCES `studies`(`study_instance_uid`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `series_study` ON `series` (`study_instance_uid`);--> statement-breakpoint
CREATE TABLE `studies` (
	`study_instance_uid` text PRIMARY KEY NOT NULL,
	`patient_pk` integer NOT NULL,
	`study_date` text DEFAULT '' NOT NULL,
	`study_time` text DEFAULT '' NOT NULL,
	`accession_number` text DEFAULT '' NOT NULL,
	`referring_physician_name` text DEFAULT '' NOT NULL,
	`study_description` text DEFAULT '' NOT NULL,
	`study_id` text DEFAULT '' NOT NULL,
	`modalities_in_study` text DEFAULT '' NOT NULL,
	`sop_classes_in_study` text DEFAULT '' NOT NULL,
	`specific_character_set` text DEFAULT '' NOT NULL,
	`num_series` integer DEFAULT 0 NOT NULL,
	`num_instances` integer DEFAULT 0 NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`patient_pk`) REFERENCES `patients`(`pk`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `studies_patient` ON `studies` (`patient_pk`);--> statement-breakpoint
CREATE INDEX `studies_date` ON `studies` (`study_date`);--> statement-breakpoint
CREATE INDEX `studies_accession` ON `studies` (`accession_number`);