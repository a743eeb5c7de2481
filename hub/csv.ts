/**
 * CSV the hub writes for people to open in a spreadsheet (the audit log, batch results). A field that a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR first: a value from an archive or a
 * name someone typed can be `=HYPERLINK(...)`) is written with a quote (') before it, which the
 * spreadsheet shows as text; a batch file read back loses that quote again.
 */

/**
 * A field a spreadsheet would take for a formula. Not papaparse's `escapeFormulae: true`, whose pattern
 * (`^[=+\-@\t\r].*$`) misses a field that holds a line break.
 */
export const FORMULA = /^[=+\-@\t\r]/;

/** A field as written before the quote that kept a spreadsheet from running it (anything else unchanged). */
export function withoutFormulaQuote(value: string): string {
  return /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}
