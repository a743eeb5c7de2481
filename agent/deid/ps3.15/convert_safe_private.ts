/**
 * Extracts PS3.15 Table E.3.10-1 "Safe Private Attributes" from NEMA's DocBook `part15.xml` (plain or
 * gzipped) into `safe_private.json`, the list the Retain Safe Private Option keeps. Run once per edition:
 *
 *   deno run -A agent/deid/ps3.15/convert_safe_private.ts --xml ../shared/deid/sources/part15-2026c.xml.gz
 *
 * The document's SHA-256 must match the one recorded in `table_e1_1.json` (both tables come from the same
 * document), unless `--expect-sha256 ''` is given for another edition. Cell text is the cell's paragraphs
 * joined by one space, whitespace collapsed, zero-width spaces removed; tags are upper-cased.
 */
import * as fs from "node:fs";
import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { parseArgs } from "node:util";
import table from "./table_e1_1.json" with { type: "json" };

export interface SafePrivateRow {
  /** Group, four hex digits (odd). */
  group: string;
  /** The element within the private block, two hex digits (the `xx` is the block the creator reserved). */
  element: string;
  creator: string;
  vr: string;
  vm: string;
  meaning: string;
}

export interface SafePrivateTable {
  standard: string;
  table: string;
  title: string;
  edition: string;
  sourceSha256: string;
  rowCount: number;
  rows: SafePrivateRow[];
}

function cellText(xml: string): string {
  return xml.replace(/<[^>]+>/g, " ").replace(/\u200b/g, "").replace(/&amp;/g, "&").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/\s+/g, " ").trim();
}

/** Parses the table out of the document's text. */
export function extractSafePrivate(xml: string, sha256: string): SafePrivateTable {
  const edition = /<subtitle>DICOM PS3\.15 (\d{4}[a-z]) /.exec(xml)?.[1];
  if (!edition) throw new Error("no edition subtitle found: is this part15.xml?");
  const start = xml.indexOf('xml:id="table_E.3.10-1"');
  if (start < 0) throw new Error("table E.3.10-1 not found");
  const body = xml.slice(start, xml.indexOf("</table>", start));
  const caption = cellText(/<caption>(.*?)<\/caption>/s.exec(body)?.[1] ?? "");
  if (caption !== "Safe Private Attributes") throw new Error(`unexpected caption ${JSON.stringify(caption)}`);
  const rows: SafePrivateRow[] = [];
  const trs = [...body.matchAll(/<tr[^>]*>(.*?)<\/tr>/gs)].map((m) => m[1]);
  const header = [...trs[0].matchAll(/<th[^>]*>(.*?)<\/th>/gs)].map((m) => cellText(m[1]));
  if (header.join("|") !== "Data Element|Private Creator|VR|VM|Meaning") {
    throw new Error(`unexpected header ${header.join("|")}`);
  }
  for (const tr of trs.slice(1)) {
    const cells = [...tr.matchAll(/<td[^>]*>(.*?)<\/td>/gs)].map((m) => cellText(m[1]));
    if (cells.length !== 5) throw new Error(`row with ${cells.length} cells: ${cells.join("|")}`);
    const m = /^\(([0-9A-Fa-f]{4}),xx([0-9A-Fa-f]{2})\)$/.exec(cells[0]);
    if (!m) throw new Error(`unexpected data element ${cells[0]}`);
    rows.push({
      group: m[1].toUpperCase(),
      element: m[2].toUpperCase(),
      creator: cells[1],
      vr: cells[2],
      vm: cells[3],
      meaning: cells[4],
    });
  }
  return {
    standard: "DICOM PS3.15",
    table: "E.3.10-1",
    title: "Safe Private Attributes",
    edition,
    sourceSha256: sha256,
    rowCount: rows.length,
    rows,
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { xml: { type: "string" }, "expect-sha256": { type: "string" }, out: { type: "string" } },
  });
  if (!values.xml) {
    console.error("usage: convert_safe_private.ts --xml part15.xml[.gz] [--expect-sha256 HEX] [--out FILE]");
    Deno.exit(2);
  }
  let raw = fs.readFileSync(values.xml);
  if (raw[0] === 0x1f && raw[1] === 0x8b) raw = gunzipSync(raw);
  const sha = createHash("sha256").update(raw).digest("hex");
  const expected = values["expect-sha256"] ?? table.sourceSha256;
  if (expected && sha !== expected) {
    console.error(`SHA-256 ${sha} is not the expected ${expected} (the document table_e1_1.json came from)`);
    Deno.exit(1);
  }
  const out = values.out ?? new URL("./safe_private.json", import.meta.url).pathname;
  const result = extractSafePrivate(new TextDecoder().decode(raw), sha);
  fs.writeFileSync(out, JSON.stringify(result, null, 1) + "\n");
  console.log(`${out}: ${result.rowCount} rows, edition ${result.edition}`);
}
