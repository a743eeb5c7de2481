/**
 * A batch file's rows as users' spreadsheets write them: Excel's CSV in Windows-1252 and with
 * semicolons, a byte order mark, blank lines (row numbers stay the spreadsheet's), an unclosed quote,
 * a column given twice, and XLSX cells holding formulas, rich text and links.
 */
import assert from "node:assert/strict";
import ExcelJS from "exceljs";
import { batchTemplateCsv } from "@conduit/shared/batch-columns";
import { BatchFileError, parseBatchFile, resultsFile } from "./rows.ts";

const csv = (text: string) => new TextEncoder().encode(text);
const keys = async (name: string, bytes: Uint8Array) =>
  (await parseBatchFile(name, bytes)).map((r) => ({
    row: r.row,
    ...r.keys,
    ...(r.error ? { error: r.error } : {}),
  }));

Deno.test("a CSV from Excel on Windows (Windows-1252) keeps its accents", async () => {
  const bytes = new Uint8Array([
    ...csv("Patient Name;Modality\r\nM"),
    0xfc,
    ...csv("ller^J"),
    0xfc,
    ...csv("rgen;CT\r\n"),
  ]);
  assert.deepEqual(await keys("list.csv", bytes), [
    { row: 2, PatientName: "Müller^Jürgen", ModalitiesInStudy: "CT" },
  ]);
  // UTF-8, with its byte order mark, as before.
  assert.deepEqual(await keys("list.csv", csv("\uFEFFPatient Name,Modality\nMüller,CT\n")), [
    { row: 2, PatientName: "Müller", ModalitiesInStudy: "CT" },
  ]);
  // Excel's "CSV UTF-8" in much of Europe: the mark, semicolons, CRLF, a quoted value.
  assert.deepEqual(
    await keys("list.csv", csv('\uFEFFPatient Name;Modality\r\n"Müller; Jürgen";CT\r\n山田^太郎;MR\r\n')),
    [
      { row: 2, PatientName: "Müller; Jürgen", ModalitiesInStudy: "CT" },
      { row: 3, PatientName: "山田^太郎", ModalitiesInStudy: "MR" },
    ],
  );
});

Deno.test("a CSV's rows keep the numbers a spreadsheet shows them with, blank lines and all", async () => {
  assert.deepEqual(await keys("a.csv", csv("Patient ID,Modality\nP1,CT\n,\n\nP2,MR\nX\n")), [
    { row: 2, PatientID: "P1", ModalitiesInStudy: "CT" },
    { row: 5, PatientID: "P2", ModalitiesInStudy: "MR" },
    { row: 6, PatientID: "X" },
  ]);
  assert.deepEqual(await keys("a.csv", csv("Patient ID\tAccession\nP1\tA1\n")), [
    { row: 2, PatientID: "P1", AccessionNumber: "A1" },
  ]);
});

Deno.test("a CSV with an unclosed quote, or a column twice, is refused with the reason", async () => {
  await assert.rejects(
    parseBatchFile("a.csv", csv('Patient ID,Modality\nP1,CT\n"P2,MR\nP3,CT\n')),
    (e) => e instanceof BatchFileError && /^row 3: a quoted value is not closed/.test(e.message),
  );
  await assert.rejects(
    parseBatchFile("a.csv", csv("Patient ID,PatientID\nP1,P2\n")),
    (e) =>
      e instanceof BatchFileError &&
      e.message === 'the columns "Patient ID" and "PatientID" are the same (PatientID); keep one',
  );
});

Deno.test("XLSX cells read as they show: formulas, rich text, links, dates; not [object Object]", async () => {
  const book = new ExcelJS.Workbook();
  const sheet = book.addWorksheet("rows");
  sheet.addRow(["Patient ID", { richText: [{ text: "Accession " }, { text: "Number" }] }, "Study Date"]);
  sheet.addRow([
    { formula: '"PAT"&"0001"', result: "PAT0001" },
    { richText: [{ text: "ACC" }, { text: "1", font: { bold: true } }] },
    new Date(Date.UTC(2024, 0, 2)),
  ]);
  sheet.addRow([{ text: "PAT0002", hyperlink: "https://ris.example/PAT0002" }, 42, "20240101"]);
  const bytes = new Uint8Array(await book.xlsx.writeBuffer() as ArrayBuffer);
  assert.deepEqual(await keys("rows.xlsx", bytes), [
    { row: 2, PatientID: "PAT0001", AccessionNumber: "ACC1", StudyDate: "20240102" },
    { row: 3, PatientID: "PAT0002", AccessionNumber: "42", StudyDate: "20240101" },
  ]);
});

Deno.test("a file that is no XLSX says so in words, not the zip library's", async () => {
  await assert.rejects(
    parseBatchFile("rows.xlsx", csv("Patient ID\nP1\n")),
    (e) => e instanceof BatchFileError && !/jszip|central directory|https?:/.test(e.message),
  );
});

Deno.test("a row may name a study by its UID, and one series of it (for a transfer of that series)", async () => {
  const rows = await parseBatchFile(
    "uids.csv",
    csv(
      "Study Instance UID,SeriesInstanceUID,Pseudonym\n" +
        "1.2.3,1.2.3.4,TRIAL-1\n" + // a study and one of its series
        "1.2.5,,\n" + // a study, whole
        ",1.2.3.5,\n" + // a series without its study
        "1.2.x,,\n" + // not a UID
        "1.2.3,1.2.3.4 1.2.3.5,\n", // two UIDs in one cell
    ),
  );
  assert.deepEqual(rows.map((r) => [r.row, r.keys, r.series, r.pseudonym, r.error]), [
    [2, { StudyInstanceUID: "1.2.3" }, "1.2.3.4", "TRIAL-1", undefined],
    [3, { StudyInstanceUID: "1.2.5" }, undefined, undefined, undefined],
    [
      4,
      {},
      "1.2.3.5",
      undefined,
      "a Series Instance UID needs the Study Instance UID of its study in the same row",
    ],
    [
      5,
      { StudyInstanceUID: "1.2.x" },
      undefined,
      undefined,
      'Study Instance UID "1.2.x" is not a DICOM UID (digits separated by dots, at most 64 characters)',
    ],
    [
      6,
      { StudyInstanceUID: "1.2.3" },
      "1.2.3.4 1.2.3.5",
      undefined,
      'Series Instance UID "1.2.3.4 1.2.3.5" is not a DICOM UID (digits separated by dots, at most 64 characters)',
    ],
  ]);
});

/**
 * Batch results hold what the archives said (names, descriptions): a value a spreadsheet would run as a
 * formula is written as text (a quote before it), a field holding a line break too; read back as a batch
 * file, the values are what they were. Until 2026-12-05 the results CSV wrote them as they came.
 */
Deno.test("resultsFile quotes formula-looking values in CSV, and a batch read back gets them as they were", async () => {
  const records = [
    {
      PatientID: "=1+2",
      PatientName: '=HYPERLINK("http://x.example/","click")',
      AccessionNumber: "+CT\nA1",
    },
    { PatientID: "P2", PatientName: "DOE^JANE", AccessionNumber: "-" },
  ];
  const bytes = await resultsFile(records, "csv");
  assert.deepEqual([...bytes.slice(0, 3)], [0xef, 0xbb, 0xbf], "UTF-8's byte order mark first, for Excel");
  const text = new TextDecoder().decode(bytes);
  for (const field of ["'=1+2", "'=HYPERLINK", "'+CT\nA1", "'-"]) {
    assert.ok(text.includes(field), `${JSON.stringify(field)} written as text: ${text}`);
  }
  assert.ok(!/(^|,)"?[=+\-@]/m.test(text), `no field starts as a formula: ${text}`);
  assert.deepEqual(await keys("results.csv", bytes), [
    {
      row: 2,
      PatientID: "=1+2",
      PatientName: '=HYPERLINK("http://x.example/","click")',
      AccessionNumber: "+CT\nA1",
    },
    { row: 3, PatientID: "P2", PatientName: "DOE^JANE", AccessionNumber: "-" },
  ]);
});

Deno.test("the console's template is a batch file the hub reads: every column known, each once", async () => {
  const template = new TextEncoder().encode(batchTemplateCsv());
  assert.deepEqual([...template.slice(0, 3)], [0xef, 0xbb, 0xbf], "UTF-8's byte order mark first, for Excel");
  assert.deepEqual(await parseBatchFile("template.csv", template), []);
  // Filled in, each of its columns lands on its own key.
  const filled = batchTemplateCsv() + "P1,DOE^JANE,19700101,A1,20240101,ct,1.2.3,1.2.3.4,ANON1\r\n";
  const [row] = await parseBatchFile("filled.csv", new TextEncoder().encode(filled));
  assert.deepEqual(row, {
    row: 2,
    keys: {
      PatientID: "P1",
      PatientName: "DOE^JANE",
      PatientBirthDate: "19700101",
      AccessionNumber: "A1",
      StudyDate: "20240101",
      ModalitiesInStudy: "CT",
      StudyInstanceUID: "1.2.3",
    },
    pseudonym: "ANON1",
    series: "1.2.3.4",
  });
});

Deno.test("a Pseudonym that could not be one Patient ID in any character set makes its row an error", async () => {
  const rows = await parseBatchFile(
    "p.csv",
    csv("Patient ID,Pseudonym\nP1,TRIAL-1\nP2,M\u00fcller\nP3,A\\B\n"),
  );
  assert.deepEqual(rows.map((r) => r.error), [
    undefined,
    'Pseudonym "M\u00fcller": at most 64 printable ASCII characters, without \\ (it becomes the Patient ID and Patient Name)',
    'Pseudonym "A\\\\B": at most 64 printable ASCII characters, without \\ (it becomes the Patient ID and Patient Name)',
  ]);
});

Deno.test("dates: ISO ranges read whole, impossible days and reversed ranges are row errors", async () => {
  const rows = await keys(
    "dates.csv",
    csv(
      "Patient ID,Study Date\n" +
        "P1,2020-01-01-2022-12-31\n" + // ISO range (read as its first day until 2026-12-07)
        "P1,2020-01-01 - 2020-12-31\n" +
        "P1,20200101..20201231\n" +
        "P1,2020-02-29\n" + // a leap day
        "P1,20201399\n" +
        "P1,2021-02-29\n" +
        "P1,20220101-20200101\n" +
        "P1,2020-01-01x\n",
    ),
  );
  assert.deepEqual(rows.slice(0, 4).map((r) => (r as { StudyDate?: string }).StudyDate), [
    "20200101-20221231",
    "20200101-20201231",
    "20200101-20201231",
    "20200229",
  ]);
  assert.deepEqual(rows.slice(4).map((r) => r.error), [
    'Study date (StudyDate) "20201399" names no day of the calendar (20201399): use YYYYMMDD, YYYY-MM-DD, or a range a-b of two of them',
    'Study date (StudyDate) "2021-02-29" names no day of the calendar (20210229): use YYYYMMDD, YYYY-MM-DD, or a range a-b of two of them',
    'Study date (StudyDate) "20220101-20200101" is a range that ends before it begins: use YYYYMMDD, YYYY-MM-DD, or a range a-b of two of them',
    'Study date (StudyDate) "2020-01-01x" is not a date: use YYYYMMDD, YYYY-MM-DD, or a range a-b of two of them',
  ]);
});

Deno.test("XLSX: numbers shown with leading zeros keep them; formulas without a result and errors are row errors", async () => {
  const book = new ExcelJS.Workbook();
  book.addWorksheet("Instructions").addRow(["Fill the second sheet"]);
  const sheet = book.addWorksheet("rows");
  sheet.addRow(["Patient ID", "Accession Number"]);
  sheet.addRow([42, 777]);
  sheet.getCell("A2").numFmt = "0000";
  sheet.getCell("B2").numFmt = "000000";
  sheet.addRow([{ formula: 'CONCAT("P","1")' }, "A1"]); // written by a script: no result
  sheet.addRow(["", ""]); // looks blank
  sheet.addRow([{ formula: "1/0", result: { error: "#DIV/0!" } }, "A2"]);
  // The sheet with the rows first: read. With the instructions first: refused, naming the sheet read.
  const rowsFirst = new ExcelJS.Workbook();
  rowsFirst.addWorksheet("rows").model = { ...sheet.model, name: "rows" };
  const first = new Uint8Array(await rowsFirst.xlsx.writeBuffer() as ArrayBuffer);
  assert.deepEqual(await keys("zeros.xlsx", first), [
    { row: 2, PatientID: "0042", AccessionNumber: "000777" },
    {
      row: 3,
      error:
        'the "Patient ID" cell (A3) holds a formula the file keeps no result of: open and save it in Excel (or paste the values) and upload it again',
    },
    { row: 5, error: 'the "Patient ID" cell (A5) shows the error #DIV/0!' },
  ]);
  await assert.rejects(
    parseBatchFile("zeros.xlsx", new Uint8Array(await book.xlsx.writeBuffer() as ArrayBuffer)),
    (e) =>
      e instanceof BatchFileError &&
      /unknown column "Fill the second sheet".*first sheet, "Instructions": put the sheet with the rows first/
        .test(e.message),
  );
});
