/**
 * A batch's results (the JSON array of `batches.results`) as an XLSX workbook, streamed: exceljs's streaming
 * writer takes the rows a few hundred at a time as the array's items are walked (results_csv.ts), and its zip
 * goes out as it is made, so neither the parsed results nor the workbook are held. Built whole (resultsFile()
 * in rows.ts), 10 000 results took the hub's memory up by about 230 MB and 100 000 by 1.7 GB; streamed, by
 * about 50 MB either way. The same cells as resultsFile(): every key in the order first seen, a missing one
 * empty; one sheet, `results`.
 */
import { once } from "node:events";
import { PassThrough, Readable } from "node:stream";
import { columnsOf, jsonArrayItems } from "./results_csv.ts";

/** Rows written between two looks at the client's pace. */
const ROWS = 500;

/**
 * The workbook of results given as their JSON text. The columns are read first (the whole text walked once):
 * a text that does not parse throws here, before any byte. A client that goes away stops the writing.
 */
export function resultsXlsx(text: string): ReadableStream<Uint8Array> {
  const columns = columnsOf(text);
  const out = new PassThrough();
  write(text, columns, out).catch((err) => out.destroy(err));
  return Readable.toWeb(out) as ReadableStream<Uint8Array>;
}

async function write(text: string, columns: string[], out: PassThrough): Promise<void> {
  // exceljs loads with the first workbook, not with the hub (rows.ts says why).
  const ExcelJS = (await import("exceljs")).default;
  const book = new ExcelJS.stream.xlsx.WorkbookWriter({
    stream: out,
    useSharedStrings: false,
    useStyles: false,
  });
  const sheet = book.addWorksheet("results");
  if (columns.length) sheet.addRow(columns).commit();
  let n = 0;
  for (const item of jsonArrayItems(text)) {
    const r = JSON.parse(item) as Record<string, unknown>;
    sheet.addRow(columns.map((c) => r[c] ?? "")).commit();
    if (++n % ROWS) continue;
    // Let the zip compress what was written; then wait while the client has not taken what is ready.
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (out.writableNeedDrain && !out.destroyed) {
      await Promise.race([once(out, "drain"), once(out, "close")]);
    }
    if (out.destroyed) return;
  }
  sheet.commit();
  await book.commit();
}
