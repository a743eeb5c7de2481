/**
 * resultsCsv(): the same bytes as resultsFile(..., "csv") (rows.ts, the CSV built whole) for the same results,
 * written in pieces from the results' JSON text; jsonArrayItems() cuts that text where JSON.parse would.
 */
import assert from "node:assert/strict";
import { jsonArrayItems, resultsCsv, utf8Stream } from "./results_csv.ts";
import { resultsFile } from "./rows.ts";

/**
 * Results as a batch writes them: errors first (fewer columns), matches with the study's keys, values with
 * commas, quotes, line breaks, braces and brackets, backslashes, non-ASCII text, leading formula characters,
 * and the Pseudonym, SeriesInstanceUID and note columns first seen late (their order is the order seen).
 */
function results(n: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [{ row: 2, site: "", error: "no key to search by" }];
  for (let i = 0; i < n; i++) {
    const match: Record<string, unknown> = {
      row: i + 3,
      site: i % 2 ? "north" : "south",
      error: "",
      PatientID: `P${i}`,
      PatientName:
        ['Doe, "Jane"', "Line\nbreak", "Back\\slash \\", "{brace} [bracket]", "Émile Zoë", ""][i % 6],
      StudyDescription: ["=HYPERLINK(1)", "-neg", "+plus", "@at", "\tTab", " padded ", "a\r\nb"][i % 7],
      StudyInstanceUID: `1.2.3.${i}`,
      NumberOfStudyRelatedInstances: i,
    };
    if (i % 5 === 1) match.Pseudonym = `PSEUDO-${i}, "x"`;
    if (i % 7 === 3) match.SeriesInstanceUID = `1.2.3.${i}.1`;
    if (i % 11 === 4) match.note = "pseudonym not applied: the study has no Patient ID";
    out.push(i % 9 === 8 ? { row: i + 3, site: "north", error: `failed: "quoted", {x}\n[y]` } : match);
  }
  return out;
}

const text = (pieces: Iterable<string>) => [...pieces].join("");

Deno.test("resultsCsv() gives resultsFile()'s CSV bytes, in pieces, for the same results", async () => {
  for (const n of [0, 1, 499, 500, 1234]) {
    const records = results(n);
    const whole = await resultsFile(records, "csv");
    const json = JSON.stringify(records);
    const pieces = [...resultsCsv(json)];
    const streamed = new Uint8Array(await new Response(utf8Stream(pieces)).arrayBuffer());
    assert.deepEqual(streamed, whole, `${n} matches`);
    assert.equal(pieces.length, Math.max(1, Math.ceil((records.length) / 500)), `${n}: pieces of 500 lines`);
  }
  // The byte order mark first (Excel reads the file as UTF-8 then); the columns first seen late come in the
  // order seen, and the pseudonym column holds its quoting.
  const csv = text(resultsCsv(JSON.stringify(results(20))));
  assert.match(csv.split("\r\n")[0], /^\uFEFFrow,site,error,PatientID,.*,Pseudonym,SeriesInstanceUID,note$/);
  assert.ok(csv.includes('"PSEUDO-1, ""x"""'));
  assert.ok(csv.includes(`"'=HYPERLINK(1)"`), "a formula kept from running");
  assert.ok(csv.includes('"Line\nbreak"') && csv.includes('"a\r\nb"'), "line breaks quoted");
});

Deno.test("resultsCsv() of no results is resultsFile()'s: the byte order mark alone", async () => {
  assert.deepEqual(new TextEncoder().encode(text(resultsCsv("[]"))), await resultsFile([], "csv"));
  assert.equal(text(resultsCsv(" [ ] ")), "\uFEFF");
});

Deno.test("jsonArrayItems() cuts an array's text into its items, strings with brackets and escapes whole", () => {
  const items = [{ a: '"}],[{' }, { b: "\\" }, { c: '\\"]' }, [1, [2]], "x,y", 3, null, { d: { e: [] } }];
  const cut = [...jsonArrayItems(JSON.stringify(items))];
  assert.equal(cut.length, items.length);
  assert.deepEqual(cut.map((t) => JSON.parse(t)), items);
  assert.deepEqual([...jsonArrayItems(' [ {"a" : 1} ,\n {"b":2} ] ')], ['{"a" : 1}', '{"b":2}']);
});

Deno.test("resultsCsv() refuses a text that is not a whole JSON array before its first piece", () => {
  for (const bad of ['{"row":1}', '[{"row":1}', '[{"row":"1}]', '[{"row":1},,{"row":2}]', "", "[{row:1}]"]) {
    assert.throws(() => resultsCsv(bad), SyntaxError, bad);
  }
});
