/**
 * The columns of a batch file (CSV or XLSX; one search per row), in the words the console's template, its
 * help text and the hub's messages use. The hub matches a header loosely ("Patient ID", "patient_id",
 * "PatientID"; hub/transfers/rows.ts), so these are the names to write, not the only ones read.
 */
import { UTF8_BOM } from "./csv_text.ts";

export const BATCH_COLUMNS = [
  "Patient ID",
  "Patient Name",
  "Birth Date",
  "Accession Number",
  "Study Date",
  "Modality",
  "Study Instance UID",
  "Series Instance UID",
  "Pseudonym",
] as const;

/**
 * A batch file to fill in: the header row alone, as CSV (no example row, which an upload of the template as it
 * is would search for), after the byte order mark that makes Excel read it, and what is typed into it, as UTF-8.
 */
export function batchTemplateCsv(): string {
  return UTF8_BOM + BATCH_COLUMNS.join(",") + "\r\n";
}
