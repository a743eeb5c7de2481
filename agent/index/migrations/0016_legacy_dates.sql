-- Dates written before DICOM 3.0 (yyyy.mm.dd, PS3.5 Table 6.2-1 asks readers to accept them) are indexed as
-- YYYYMMDD, so that date matching (single values and ranges, always YYYYMMDD) finds them.
UPDATE `patients` SET `patient_birth_date` = replace(`patient_birth_date`, '.', '')
	WHERE `patient_birth_date` GLOB '[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]';--> statement-breakpoint
UPDATE `studies` SET `study_date` = replace(`study_date`, '.', '')
	WHERE `study_date` GLOB '[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]';--> statement-breakpoint
UPDATE `series` SET `series_date` = replace(`series_date`, '.', '')
	WHERE `series_date` GLOB '[0-9][0-9][0-9][0-9].[0-9][0-9].[0-9][0-9]';
