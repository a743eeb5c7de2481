/**
 * `GET /api/batches/{id}/results.csv` and `.xlsx` on a real hub (PostgreSQL under `deno task test:pg`): the
 * same bytes (CSV) or cells (XLSX) as `batch.results` (the file whole, base64) for a batch whose results have commas, quotes,
 * line breaks and pseudonyms; authenticated like tRPC (token or console session), scoped to the batch's
 * sites; a problem object, never a half file, for a batch unknown, without results, or whose results do not
 * read, and the hub goes on.
 */
import assert from "node:assert/strict";
import { startTestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";
import { batches } from "../../hub/db/schema.ts";
import { fromBase64, toBase64 } from "@conduit/shared/base64";
import { summarize } from "../../hub/transfers/batch_summary.ts";

/** A batch's row as the hub writes it, searched at north (results as given, JSON text). */
const batchRow = (id: string, results: string | null, summary: string | null = null) => ({
  id,
  kind: "transfer",
  filename: "rows.csv",
  status: "done",
  sites: JSON.stringify({ sites: ["north"], destination: { site: "north", node: "pacs" } }),
  rows: "[]",
  results,
  summary,
  createdBy: "user:x",
  createdAt: 1,
  updatedAt: 1,
});

/** A workbook's first sheet as rows of cell values (a missing cell ""). */
async function cells(bytes: Uint8Array): Promise<unknown[][]> {
  const ExcelJS = (await import("exceljs")).default;
  const book = new ExcelJS.Workbook();
  await book.xlsx.load(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  );
  const out: unknown[][] = [];
  book.worksheets[0].eachRow({ includeEmpty: true }, (r) => {
    out.push(Array.from({ length: r.cellCount }, (_, i) => r.getCell(i + 1).value ?? ""));
  });
  return out;
}

const RESULTS = [
  { row: 2, site: "", error: "no key to search by" },
  ...Array.from({ length: 1200 }, (_, i) => ({
    row: i + 3,
    site: "north",
    error: "",
    PatientID: `P${i}`,
    PatientName: ['Doe, "Jane"', "Line\nbreak", "{x} [y]"][i % 3],
    StudyDescription: i % 4 ? "CT, head" : "=1+1",
    StudyInstanceUID: `1.2.3.${i}`,
    ...(i % 2 ? { Pseudonym: `PSEUDO-${i}` } : {}),
  })),
];

/** Results under batch columns, names in Latin with accents, Japanese, Greek and Korean. */
const NAMES = [
  { PatientID: "P1", PatientName: "Müller^Jürgen" },
  { PatientName: "山田^太郎", Pseudonym: "ANON2" },
  { PatientID: "P3", PatientName: "Διονυσιος" },
  { PatientName: "김희중", AccessionNumber: "A4" },
];

Deno.test({
  name: "GET /api/batches/{id}/results.csv streams batch.results' CSV bytes, to whom may read the batch",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const url = `http://127.0.0.1:${hub.port}`;
      await hub.db.insert(batches).values([
        batchRow("b1", JSON.stringify(RESULTS)),
        batchRow("b2", null),
        batchRow("b3", "Doe^Jane: not JSON"),
        // Since summaries: the status reads the summary alone, the download finds the results broken.
        batchRow("b4", '[{"row":1,"PatientName":"Doe^Jane"},{"row":2,', JSON.stringify(summarize([], []))),
        // Names in other scripts, under columns a batch file has: the file read back as a batch.
        batchRow("b5", JSON.stringify(NAMES)),
      ]);
      const viewer = (await hub.tokens.create("viewer north", "viewer", ["north"])).token;
      const southOnly = (await hub.tokens.create("south only", "operator", ["south"])).token;
      const get = (path: string, headers: Record<string, string> = { authorization: `Bearer ${viewer}` }) =>
        fetch(`${url}/api/batches/${path}`, { headers });

      const res = await get("b1/results.csv");
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), "text/csv; charset=utf-8");
      assert.equal(res.headers.get("content-disposition"), 'attachment; filename="batch-b1.csv"');
      const streamed = new Uint8Array(await res.arrayBuffer());
      assert.deepEqual([...streamed.slice(0, 3)], [0xef, 0xbb, 0xbf], "UTF-8's byte order mark, for Excel");
      const whole = await createConduitClient({ url, token: viewer }).batch.results.query({
        id: "b1",
        format: "csv",
      });
      assert.equal(whole.filename, "batch-b1.csv");
      assert.deepEqual(streamed, fromBase64(whole.contentBase64));
      const text = new TextDecoder().decode(streamed);
      assert.equal(
        text.split("\r\n")[0],
        "row,site,error,PatientID,PatientName,StudyDescription,StudyInstanceUID,Pseudonym",
      );
      assert.ok(
        text.includes(',"Doe, ""Jane""",') && text.includes('"Line\nbreak"') &&
          text.includes(",PSEUDO-1\r\n"),
      );

      // XLSX, streamed: the cells of batch.results' workbook, every result a row under the header.
      const xlsx = await get("b1/results.xlsx");
      assert.equal(xlsx.status, 200);
      assert.equal(
        xlsx.headers.get("content-type"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
      );
      assert.equal(xlsx.headers.get("content-disposition"), 'attachment; filename="batch-b1.xlsx"');
      const sheet = await cells(new Uint8Array(await xlsx.arrayBuffer()));
      const wholeXlsx = await createConduitClient({ url, token: viewer }).batch.results.query({
        id: "b1",
        format: "xlsx",
      });
      assert.deepEqual(await cells(fromBase64(wholeXlsx.contentBase64)), sheet);
      assert.equal(sheet.length, RESULTS.length + 1);
      assert.deepEqual(sheet[0], [
        "row",
        "site",
        "error",
        "PatientID",
        "PatientName",
        "StudyDescription",
        "StudyInstanceUID",
        "Pseudonym",
      ]);
      assert.deepEqual(sheet[1].slice(0, 3), [2, "", "no key to search by"]);
      assert.deepEqual(sheet[3], [4, "north", "", "P1", "Line\nbreak", "CT, head", "1.2.3.1", "PSEUDO-1"]);

      // A console session: its cookie, a GET without the CSRF token.
      await hub.users.add("ann", "viewer", "ann's password 1");
      const login = await fetch(`${url}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "ann", password: "ann's password 1" }),
      });
      assert.equal(login.status, 200);
      await login.body?.cancel();
      const cookie = login.headers.get("set-cookie")!.split(";")[0];
      const bySession = await get("b1/results.csv", { cookie });
      assert.deepEqual(new Uint8Array(await bySession.arrayBuffer()), streamed);

      // Refused, each with a problem object and nothing of the file.
      const refused: [string, Record<string, string>, number, RegExp][] = [
        ["b1/results.csv", {}, 401, /API token/],
        ["b1/results.csv", { authorization: "Bearer not-a-token" }, 401, /API token/],
        ["b1/results.csv", { authorization: `Bearer ${southOnly}` }, 403, /may not reach site north/],
        ["nope/results.csv", { authorization: `Bearer ${viewer}` }, 404, /no batch nope/],
        ["b2/results.csv", { authorization: `Bearer ${viewer}` }, 404, /batch b2 has no results yet/],
        ["b3/results.csv", { authorization: `Bearer ${viewer}` }, 500, /results of batch b3 cannot be read/],
        ["b4/results.csv", { authorization: `Bearer ${viewer}` }, 500, /results of batch b4 cannot be read/],
        ["b1/results.ods", { authorization: `Bearer ${viewer}` }, 404, /nothing at/],
        ["b1/results.xlsx", { authorization: `Bearer ${southOnly}` }, 403, /may not reach site north/],
        ["b2/results.xlsx", { authorization: `Bearer ${viewer}` }, 404, /batch b2 has no results yet/],
        ["b3/results.xlsx", { authorization: `Bearer ${viewer}` }, 500, /results of batch b3 cannot be read/],
      ];
      for (const [path, headers, status, detail] of refused) {
        const r = await get(path, headers);
        assert.equal(r.status, status, path);
        assert.equal(r.headers.get("content-type"), "application/problem+json", path);
        assert.match((await r.json()).detail, detail, path);
      }
      for (const id of ["b3", "b4"]) {
        assert.ok(
          hub.lines.some((l) => l.includes("batch results unreadable") && l.includes(`"batch":"${id}"`)),
        );
      }
      assert.ok(!hub.lines.some((l) => l.includes("Doe^Jane")), "no patient name in the log");
      assert.equal((await get("b1/results.csv")).status, 200, "the hub goes on");

      // Names in other scripts: the mark, then the file as a batch reads it back (the upload's preview).
      const names = new Uint8Array(await (await get("b5/results.csv")).arrayBuffer());
      assert.deepEqual([...names.slice(0, 3)], [0xef, 0xbb, 0xbf]);
      const operator = (await hub.tokens.create("operator north", "operator", ["north"])).token;
      const preview = await createConduitClient({ url, token: operator }).batch.preview.mutate({
        filename: "batch-b5.csv",
        contentBase64: toBase64(names),
      });
      assert.deepEqual(
        preview.first.map((r) => ({ ...r.keys, ...(r.pseudonym ? { Pseudonym: r.pseudonym } : {}) })),
        NAMES,
      );
    } finally {
      await hub.stop();
    }
  },
});
