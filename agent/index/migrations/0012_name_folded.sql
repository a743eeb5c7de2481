CREATE INDEX `patients_name_folded` ON `patients` (lower(substr(`patient_name`, 1, instr(`patient_name` || '=', '=') - 1)));
