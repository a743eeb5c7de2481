/**
 * A batch's results (one JSON array of flat objects, `batches.results`) as CSV, written a few hundred lines
 * at a time as its items are read: the array's text is walked item by item and each item parsed alone, so
 * neither the parsed results nor the whole CSV are ever held (20 000 lines: about 8 MB of JSON). The same
 * bytes as resultsFile() (rows.ts) builds whole: the columns are every key in the order first seen (a first
 * walk), and each group of lines goes through the same papaparse call.
 */
import Papa from "papaparse";
import { UTF8_BOM } from "@conduit/shared/csv-text";
import { FORMULA } from "../csv.ts";

/** Lines handed to papaparse at a time. */
const LINES = 500;

const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/** The position of the quote that closes the JSON string opened at `open`. */
function stringEnd(text: string, open: number): number {
  for (let q = open;;) {
    q = text.indexOf('"', q + 1);
    if (q < 0) throw new SyntaxError("a JSON string is not closed");
    let b = q - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
  }
}

/**
 * The items of a JSON array's text, each as its own text, in order, without parsing the array. Throws a
 * SyntaxError where the text is not an array or is cut short (an item's own errors are JSON.parse's).
 */
export function* jsonArrayItems(text: string): Generator<string> {
  let i = text.search(/\S/);
  if (i < 0 || text[i] !== "[") throw new SyntaxError("not a JSON array");
  let start = ++i;
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = stringEnd(text, i);
    else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]") {
      if (depth-- > 0) continue;
      const last = text.slice(start, i).trim();
      if (last) yield last;
      return;
    } else if (text.charCodeAt(i) === COMMA && depth === 0) {
      yield text.slice(start, i).trim();
      start = i + 1;
    }
  }
  throw new SyntaxError("the JSON array is not closed");
}

/** The results' columns: every key, in the order first seen (resultsFile()'s). */
export function columnsOf(text: string): string[] {
  const seen = new Set<string>();
  for (const item of jsonArrayItems(text)) {
    for (const key of Object.keys(JSON.parse(item) as Record<string, unknown>)) seen.add(key);
  }
  return [...seen];
}

/**
 * The CSV of results given as their JSON text, in pieces. The columns are read first (the whole text
 * walked once, every item parsed and dropped): a text that does not parse throws here, before any piece.
 */
export function resultsCsv(text: string): Iterable<string> {
  const columns = columnsOf(text);
  return (function* () {
    const options = { escapeFormulae: FORMULA };
    let lines: unknown[][] = [];
    let first = true;
    const piece = () => {
      // The first piece has the byte order mark and the header (no header when there are no results at all,
      // as resultsFile() gives the mark alone).
      const out = first
        ? UTF8_BOM + Papa.unparse({ fields: columns, data: lines }, options)
        : "\r\n" + Papa.unparse({ fields: columns, data: lines }, { ...options, header: false });
      first = false;
      lines = [];
      return out;
    };
    for (const item of jsonArrayItems(text)) {
      const r = JSON.parse(item) as Record<string, unknown>;
      lines.push(columns.map((c) => r[c] ?? ""));
      if (lines.length >= LINES) yield piece();
    }
    if (first || lines.length) yield piece();
  })();
}

/** A stream of `pieces` as UTF-8, one piece per read (a slow client holds the walk, not the hub's memory). */
export function utf8Stream(pieces: Iterable<string>): ReadableStream<Uint8Array> {
  const it = pieces[Symbol.iterator]();
  const encoder = new TextEncoder();
  return new ReadableStream<Uint8Array>({
    pull(out) {
      const next = it.next();
      if (next.done) out.close();
      else out.enqueue(encoder.encode(next.value));
    },
    cancel() {
      it.return?.();
    },
  }, { highWaterMark: 0 });
}
