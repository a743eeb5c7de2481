-- Each study keeps the patient attributes its own objects carry (C-FIND and QIDO answer them at the study level
-- and below): the patient row is keyed by PatientID and its issuer, so two patients sharing an ID (an empty one,
-- after some anonymisers) showed one patient's name for the other's studies. Rows indexed before take the
-- values of the patient row they are filed under (what they answered until now). Studies also keep the
-- patient's age at the study and the institution (QIDO-RS includefield=all names them), empty for studies
-- indexed before (their objects were not read for them).
ALTER TABLE `studies` ADD `patient_name` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `studies` ADD `patient_birth_date` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `studies` ADD `patient_sex` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `studies` ADD `patient_age` text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE `studies` ADD `institution_name` text DEFAULT '' NOT NULL;--> statement-breakpoint
UPDATE `studies` SET (`patient_name`, `patient_birth_date`, `patient_sex`) =
	(SELECT `patient_name`, `patient_birth_date`, `patient_sex` FROM `patients` WHERE `patients`.`pk` = `studies`.`patient_pk`);--> statement-breakpoint
CREATE INDEX `studies_patient_name_folded` ON `studies` (lower(substr(`patient_name`, 1, instr(`patient_name` || '=', '=') - 1)));
