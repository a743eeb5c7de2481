/**
 * What a batch's status shows (its counts and errors), summed from its rows and results where they are
 * written and kept beside them (`batches.summary`): a status polled every few seconds then parses neither
 * the rows nor the results (20 000 lines for a big batch).
 */
import type { BatchRow } from "./rows.ts";

export interface BatchSummary {
  /** Rows of the file. */
  rows: number;
  /** Rows searched so far (every row searched has at least one result line). */
  rowsDone: number;
  /** Rows the file gave that could not be read as a search. */
  badRows: number;
  /** Studies found, each once: two rows (or a row and its duplicate) finding one study count it once. */
  matches: number;
  errors: { row: unknown; site: unknown; error: unknown }[];
}

/** The summary of a batch's rows and its results so far. */
export function summarize(
  rows: readonly BatchRow[],
  results: readonly Record<string, unknown>[],
): BatchSummary {
  return {
    rows: rows.length,
    rowsDone: new Set(results.map((r) => r.row).filter((r) => Number(r) > 0)).size,
    badRows: rows.filter((r) => r.error).length,
    matches: new Set(
      results.filter((r) => !r.error).map((r, i) => `${r.site}|${r.StudyInstanceUID || `#${i}`}`),
    ).size,
    errors: results.filter((r) => r.error).map((r) => ({ row: r.row, site: r.site, error: r.error })),
  };
}

/** The `results` and `summary` columns of a batch, as written together. */
export function resultColumns(
  rows: readonly BatchRow[],
  results: readonly Record<string, unknown>[],
): { results: string; summary: string } {
  return { results: JSON.stringify(results), summary: JSON.stringify(summarize(rows, results)) };
}
