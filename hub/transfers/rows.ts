/**
 * Rows of a batch, from CSV (papaparse) or XLSX (exceljs): one search per row, by Patient ID,
 * Patient Name, birth date, Accession Number, a study date or range, a modality, or a Study Instance
 * UID, with an optional pseudonym, and for a transfer an optional Series Instance UID of that study (only
 * that series goes). Column names are matched loosely ("Patient ID", "patient_id", "PatientID"). A row
 * that cannot be used gets its own error; the others go on.
 */
// @ts-types="npm:@types/papaparse@^5"
import Papa from "papaparse";
import { BATCH_COLUMNS } from "@conduit/shared/batch-columns";
import { pseudonymProblem } from "@conduit/shared/deid";
import {
  type CsvEncoding,
  CsvEncodingError,
  decodeCsv,
  type KnownEncoding,
  UTF8_BOM,
} from "@conduit/shared/csv-text";
import { FORMULA, withoutFormulaQuote } from "../csv.ts";

export interface BatchRow {
  /** 1-based, as a spreadsheet shows it (the header is row 1). */
  row: number;
  keys: Record<string, string>;
  pseudonym?: string;
  /** A batch transfer moves only this series of the row's study (its Study Instance UID). */
  series?: string;
  error?: string;
}

export class BatchFileError extends Error {
  override name = "BatchFileError";
}

const COLUMNS: Record<string, string> = {
  patientid: "PatientID",
  patientname: "PatientName",
  patientbirthdate: "PatientBirthDate",
  birthdate: "PatientBirthDate",
  accessionnumber: "AccessionNumber",
  accession: "AccessionNumber",
  studydate: "StudyDate",
  modality: "ModalitiesInStudy",
  modalities: "ModalitiesInStudy",
  studyinstanceuid: "StudyInstanceUID",
  studyuid: "StudyInstanceUID",
  seriesinstanceuid: "SeriesInstanceUID",
  seriesuid: "SeriesInstanceUID",
  pseudonym: "Pseudonym",
};

const UID = /^[0-9]+(\.[0-9]+)*$/;

const normalize = (name: string) => name.toLowerCase().replace(/[^a-z]/g, "");

/** One date as `YYYYMMDD` or `YYYY-MM-DD`; a range's two ends, by `-`, `..` or an en dash, spaces around allowed. */
const DATE = String.raw`\d{8}|\d{4}-\d{2}-\d{2}`;
const DATE_OR_RANGE = new RegExp(String.raw`^(${DATE})(?:\s*(?:-|\.\.|–)\s*(${DATE}))?$`);

/**
 * A date cell as DICOM's `YYYYMMDD` or range `YYYYMMDD-YYYYMMDD`, or why it is none: the whole cell read (until
 * 2026-12-07 `2020-01-01-2022-12-31` searched its first day alone), each date a day of the calendar
 * (`20201399`, `2020-02-30` went through and found nothing), a range in order.
 */
function dicomDateOrRange(value: string): { value: string } | { problem: string } {
  const m = DATE_OR_RANGE.exec(value.trim());
  if (!m) return { problem: "is not a date" };
  const ends = [m[1], m[2]].filter((d): d is string => d !== undefined).map((d) => d.replaceAll("-", ""));
  for (const d of ends) {
    const [y, mo, day] = [+d.slice(0, 4), +d.slice(4, 6), +d.slice(6, 8)];
    const date = new Date(Date.UTC(y, mo - 1, day));
    if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== day) {
      return { problem: `names no day of the calendar (${d})` };
    }
  }
  if (ends.length === 2 && ends[0] > ends[1]) return { problem: "is a range that ends before it begins" };
  return { value: ends.join("-") };
}

function rowFrom(n: number, record: Record<string, string>): BatchRow {
  const keys: Record<string, string> = {};
  let pseudonym: string | undefined;
  let series: string | undefined;
  for (const [column, raw] of Object.entries(record)) {
    const key = COLUMNS[normalize(column)];
    // A results file read back as a batch: a value the export quoted against formulas is the value again.
    const value = withoutFormulaQuote(String(raw ?? "").trim());
    if (!key || !value) continue;
    if (key === "Pseudonym") pseudonym = value;
    else if (key === "SeriesInstanceUID") series = value;
    else keys[key] = value;
  }
  const row: BatchRow = { row: n, keys, ...(pseudonym ? { pseudonym } : {}), ...(series ? { series } : {}) };
  if (pseudonym && pseudonymProblem(pseudonym)) {
    return {
      ...row,
      error: `Pseudonym ${JSON.stringify(pseudonym.slice(0, 80))}: at most 64 printable ASCII characters, ` +
        "without \\ (it becomes the Patient ID and Patient Name)",
    };
  }
  for (const [label, value] of [["Study", keys.StudyInstanceUID], ["Series", series]]) {
    if (value !== undefined && (!UID.test(value) || value.length > 64)) {
      return {
        ...row,
        error: `${label} Instance UID ${JSON.stringify(value.slice(0, 80))} is not a DICOM UID ` +
          "(digits separated by dots, at most 64 characters)",
      };
    }
  }
  if (series && !keys.StudyInstanceUID) {
    return {
      ...row,
      error: "a Series Instance UID needs the Study Instance UID of its study in the same row",
    };
  }
  if (!keys.PatientID && !keys.AccessionNumber && !keys.PatientName && !keys.StudyInstanceUID) {
    return {
      ...row,
      error: "give at least a Patient ID, a Patient Name, an Accession Number or a Study Instance UID",
    };
  }
  for (const k of ["PatientBirthDate", "StudyDate"]) {
    if (!keys[k]) continue;
    const date = dicomDateOrRange(keys[k]);
    if ("problem" in date) {
      const label = k === "StudyDate" ? "Study date" : "Birth date";
      return {
        ...row,
        error: `${label} (${k}) ${JSON.stringify(keys[k])} ${date.problem}: use YYYYMMDD, YYYY-MM-DD, ` +
          "or a range a-b of two of them",
      };
    }
    keys[k] = date.value;
  }
  if (keys.ModalitiesInStudy && !/^[A-Z]{2,3}$/.test(keys.ModalitiesInStudy.toUpperCase())) {
    return {
      ...row,
      error: `Modality ${JSON.stringify(keys.ModalitiesInStudy)} is not a DICOM modality code`,
    };
  }
  if (keys.ModalitiesInStudy) keys.ModalitiesInStudy = keys.ModalitiesInStudy.toUpperCase();
  return row;
}

/**
 * The header row checked: every column known, at least one, none twice. `empty`: the file holds nothing but
 * blanks (then it is told so, rather than that its first row names no column).
 */
function checkHeader(header: string[], empty: boolean): void {
  const shape = `a batch file's first row names its columns (${
    BATCH_COLUMNS.join(", ")
  }), and each row below it is one search`;
  if (empty) throw new BatchFileError(`the file is empty: ${shape}`);
  if (!header.some((h) => h.trim())) throw new BatchFileError(`the first row is blank: ${shape}`);
  const unknown = header.filter((h) => h.trim() && !COLUMNS[normalize(h)]);
  if (unknown.length) {
    throw new BatchFileError(
      `unknown column ${unknown.map((u) => JSON.stringify(u)).join(", ")}; use ${BATCH_COLUMNS.join(", ")}`,
    );
  }
  if (!header.some((h) => COLUMNS[normalize(h)])) {
    throw new BatchFileError("the first row names no known column");
  }
  // Two columns for one key: which one a row searches by would be a guess.
  const seen = new Map<string, string>();
  for (const h of header) {
    const key = COLUMNS[normalize(h)];
    if (!key) continue;
    const before = seen.get(key);
    if (before !== undefined) {
      throw new BatchFileError(
        `the columns ${JSON.stringify(before)} and ${JSON.stringify(h)} are the same (${key}); keep one`,
      );
    }
    seen.set(key, h);
  }
}

/**
 * A cell of a sheet as the text it shows: a formula's result, rich text's words, a link's text, a date, and a
 * number in a format of zeros (`0000`, as a sheet keeps the leading zeros of IDs typed as numbers) padded as
 * shown (until 2026-12-07 `0042` read as `42`).
 */
function cellText(v: unknown, numFmt?: string): string {
  if (v === null || v === undefined) return "";
  if (v instanceof Date) return v.toISOString().slice(0, 10);
  if (typeof v === "number" && numFmt && /^0+$/.test(numFmt) && Number.isInteger(v) && v >= 0) {
    return String(v).padStart(numFmt.length, "0");
  }
  if (typeof v !== "object") return String(v);
  const o = v as { result?: unknown; richText?: { text: string }[]; text?: unknown; error?: string };
  if ("formula" in o || "sharedFormula" in o) return cellText(o.result, numFmt);
  if (Array.isArray(o.richText)) return o.richText.map((r) => r.text).join("");
  if ("text" in o) return cellText(o.text);
  if (o.error) return o.error;
  return "";
}

/**
 * Why a cell cannot be searched by: a formula the file keeps no result of (written by a script, or saved by a
 * tool that does not compute), or a formula's error (`#N/A`, `#DIV/0!`); until 2026-12-07 the first read as an
 * empty cell ("give at least a Patient ID...") and the second was searched for as written.
 */
function cellProblem(v: unknown): string | undefined {
  if (v === null || typeof v !== "object" || v instanceof Date) return undefined;
  const o = v as { result?: unknown; error?: string; formula?: string; sharedFormula?: string };
  const result = "formula" in o || "sharedFormula" in o ? o.result : v;
  if (result === undefined || result === null) {
    return "formula" in o || "sharedFormula" in o
      ? "holds a formula the file keeps no result of: open and save it in Excel (or paste the values) and upload it again"
      : undefined;
  }
  const error = (result as { error?: unknown }).error;
  return typeof error === "string" ? `shows the error ${error}` : undefined;
}

/**
 * A CSV's text in the encoding named, or detected (`auto`: shared/csv_text.ts, decodeCsv()): UTF-8 with or
 * without a byte order mark, UTF-16 with one (Excel's "Unicode Text"), or what Excel's plain "CSV" writes on
 * Windows (Windows-1252 in Western Europe and the Americas, Shift_JIS, GBK, EUC-KR, Windows-1251, -1253). A file it cannot tell, or that the encoding named
 * cannot read, is refused naming the choice to make, never read as mojibake.
 */
function csvText(bytes: Uint8Array, encoding: CsvEncoding): { text: string; encoding: KnownEncoding } {
  try {
    return decodeCsv(bytes, encoding);
  } catch (err) {
    if (err instanceof CsvEncodingError) throw new BatchFileError(err.message, { cause: err });
    throw err;
  }
}

/**
 * exceljs and what it pulls in (zip readers and writers) load with the first XLSX file, not with the hub:
 * they were a quarter of the hub's start-up samples in a profile, for a feature most hubs use rarely.
 */
async function excel() {
  return (await import("exceljs")).default;
}

/** A batch file's rows (parseBatchFile()'s). */
export async function parseBatchFile(
  filename: string,
  bytes: Uint8Array,
  encoding: CsvEncoding = "auto",
): Promise<BatchRow[]> {
  return (await readBatchFile(filename, bytes, encoding)).rows;
}

/**
 * A batch file's rows, and for a CSV the encoding it was read in (`encoding`, or the one detected: the
 * console's preview names it). An XLSX holds Unicode: `encoding` does not apply to it.
 */
export async function readBatchFile(
  filename: string,
  bytes: Uint8Array,
  encoding: CsvEncoding = "auto",
): Promise<{ rows: BatchRow[]; encoding?: KnownEncoding }> {
  if (/\.xlsx$/i.test(filename)) {
    const ExcelJS = await excel();
    const book = new ExcelJS.Workbook();
    try {
      await book.xlsx.load(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
      );
    } catch {
      throw new BatchFileError(
        "not a readable XLSX file (an old .xls, or a CSV named .xlsx? save it as .xlsx or .csv)",
      );
    }
    const sheet = book.worksheets[0];
    if (!sheet) throw new BatchFileError("the workbook has no sheet");
    const text = (c: { value: unknown; numFmt?: string }) => cellText(c.value, c.numFmt);
    const header: string[] = [];
    sheet.getRow(1).eachCell({ includeEmpty: true }, (c, i) => (header[i - 1] = text(c)));
    for (let i = 0; i < header.length; i++) header[i] ??= "";
    let filled = false;
    sheet.eachRow((r) => r.eachCell((c) => (filled ||= text(c).trim() !== "")));
    try {
      checkHeader(header, !filled);
    } catch (err) {
      // Only the first sheet is read: a workbook that begins with another (instructions, a cover) says so.
      if (!(err instanceof BatchFileError) || book.worksheets.length < 2) throw err;
      throw new BatchFileError(
        `${err.message} (read from the workbook's first sheet, ${JSON.stringify(sheet.name)}: ` +
          "put the sheet with the rows first)",
      );
    }
    const rows: BatchRow[] = [];
    sheet.eachRow((r, n) => {
      if (n === 1) return;
      const record: Record<string, string> = {};
      let problem: string | undefined;
      header.forEach((h, i) => {
        const cell = r.getCell(i + 1);
        record[h] = text(cell);
        const p = COLUMNS[normalize(h)] ? cellProblem(cell.value) : undefined;
        if (p && !problem) problem = `the ${JSON.stringify(h)} cell (${cell.address}) ${p}`;
      });
      // A row of empty strings looks blank in the sheet, and is skipped as a blank row is.
      if (Object.values(record).every((v) => !v.trim()) && !problem) return;
      rows.push(problem ? { row: n, keys: {}, error: problem } : rowFrom(n, record));
    });
    return { rows };
  }
  if (!/\.(csv|txt)$/i.test(filename)) throw new BatchFileError("send a .csv or .xlsx file");
  // Records as arrays, blank ones kept: a row's number is the one a spreadsheet shows, after blank lines too.
  const { text, encoding: read } = csvText(bytes, encoding);
  // The delimiter (comma, semicolon as Excel writes in much of Europe, tab) guessed over non-blank lines.
  const { delimiter } = Papa.parse(text, { preview: 20, skipEmptyLines: "greedy" }).meta;
  const parsed = Papa.parse<string[]>(text, { header: false, skipEmptyLines: false, delimiter });
  const quote = parsed.errors.find((e) => e.type === "Quotes");
  if (quote) {
    throw new BatchFileError(
      `row ${(quote.row ?? 0) + 1}: a quoted value is not closed (a " without its pair), so the rows after ` +
        "it would be read as one value",
    );
  }
  const [header = [], ...records] = parsed.data;
  checkHeader(header, !text.replace(/^\uFEFF/, "").trim());
  const rows: BatchRow[] = [];
  records.forEach((values, i) => {
    if (values.every((v) => !v.trim())) return;
    rows.push(rowFrom(i + 2, Object.fromEntries(header.map((h, c) => [h, values[c] ?? ""]))));
  });
  return { rows, encoding: read };
}

/**
 * Results as one CSV file (columns: every key in the order first seen), UTF-8 with its byte order mark (so
 * that Excel, opening it by a double click, reads it as UTF-8). XLSX is written by results_xlsx.ts,
 * streamed; this one is what resultsCsv() (results_csv.ts) gives in pieces.
 */
export function resultsFile(records: Record<string, unknown>[], _format: "csv"): Promise<Uint8Array> {
  const columns = [...new Set(records.flatMap((r) => Object.keys(r)))];
  // Values come from the archives (names, descriptions): one that looks like a formula is quoted (../csv.ts).
  return Promise.resolve(
    new TextEncoder().encode(
      UTF8_BOM + Papa.unparse(
        { fields: columns, data: records.map((r) => columns.map((c) => r[c] ?? "")) },
        { escapeFormulae: FORMULA },
      ),
    ),
  );
}
