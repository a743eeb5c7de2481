/**
 * A batch whose rows name patients in other scripts (XLSX and UTF-8 CSV): each row finds its study at the
 * site (pydicom's Japanese, Greek and Korean objects, stored in ISO 2022 IR 87, ISO_IR 126 and ISO 2022
 * IR 149), and the results file gives the names and IDs as written. The same names in CSVs saved by Excel's
 * plain "CSV" on Japanese, Chinese, Korean, Cyrillic, Greek and Western Windows (Shift_JIS, GBK, EUC-KR,
 * Windows-1251, Windows-1253, Windows-1252: python3's bytes), detected or named in `encoding`, find theirs
 * (the Chinese, Russian and German objects too, in GB18030, ISO_IR 144 and ISO_IR 100), and so do they in
 * Excel's "Unicode Text" (UTF-16, tab-separated, a .txt).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import ExcelJS from "exceljs";
import { PYDICOM_TEST_FILES_DIR } from "../support/peers.ts";
import { storescu } from "../support/send.ts";
import { eventually } from "../support/hub.ts";
import { toBase64 } from "@conduit/shared/base64";
import { rigTest, skip } from "./_rig.ts";
import { type CODECS, encodeLegacy } from "../support/legacy_text.ts";

const CHARSETS = path.join(PYDICOM_TEST_FILES_DIR, "../charset_files");
const FILES = ["chrH31.dcm", "chrGreek.dcm", "chrKoreanMulti.dcm", "chrX2.dcm", "chrGerm.dcm", "chrRuss.dcm"]
  .map((n) => path.join(CHARSETS, n));

if (skip) console.warn(`batch_names_test: skipped: ${skip}`);

rigTest(
  "a batch query by names in other scripts finds each row's study, and its results keep the names",
  async (r) => {
    assert.equal((await storescu(FILES, r.north)).code, 0);
    const book = new ExcelJS.Workbook();
    const sheet = book.addWorksheet("rows");
    sheet.addRow(["Patient Name", "Patient ID"]);
    sheet.addRow(["=山田^太郎", ""]); // the ideographic group only
    sheet.addRow(["Διονυσιος", ""]);
    sheet.addRow(["", "2008-3"]);
    sheet.addRow(["김*", ""]);
    const upload = async (filename: string, bytes: Uint8Array) => {
      const { id } = await r.client.batch.upload.mutate({
        kind: "query",
        filename,
        contentBase64: toBase64(bytes),
        sites: ["north"],
      });
      return await eventually(`${filename} done`, async () => {
        const s = await r.client.batch.status.query({ id });
        return s.status === "done" ? s : undefined;
      });
    };
    const fromXlsx = await upload("names.xlsx", new Uint8Array(await book.xlsx.writeBuffer() as ArrayBuffer));
    assert.deepEqual(fromXlsx.errors, []);
    assert.equal(fromXlsx.matches, 3);

    const results = new ExcelJS.Workbook();
    await results.xlsx.load(
      Uint8Array.from(
        atob((await r.client.batch.results.query({ id: fromXlsx.id, format: "xlsx" })).contentBase64),
        (c) => c.charCodeAt(0),
      ).buffer,
    );
    const rows = results.worksheets[0].getSheetValues().slice(1).map((v) => (v as unknown[]).slice(1));
    const header = rows[0] as string[];
    const cell = (row: unknown[], column: string) => String(row[header.indexOf(column)] ?? "");
    const byRow = Object.fromEntries(
      rows.slice(1).map((row) => [cell(row, "row"), [cell(row, "PatientID"), cell(row, "PatientName")]]),
    );
    assert.deepEqual(byRow, {
      2: ["H31EXAMPLE", "Yamada^Tarou=山田^太郎=やまだ^たろう"],
      3: ["SCSGREEK", "Διονυσιος"],
      4: ["2008-3", "김희중"],
      5: ["2008-3", "김희중"],
    });

    // The same rows in a UTF-8 CSV (no byte order mark), as LibreOffice or a script writes it.
    const csv = "Patient Name,Patient ID\n=山田^太郎,\nΔιονυσιος,\n,2008-3\n김*,\n";
    const fromCsv = await upload("names.csv", new TextEncoder().encode(csv));
    assert.deepEqual(fromCsv.errors, []);
    assert.equal(fromCsv.matches, 3);
    const text = new TextDecoder().decode(
      Uint8Array.from(
        atob((await r.client.batch.results.query({ id: fromCsv.id, format: "csv" })).contentBase64),
        (c) => c.charCodeAt(0),
      ),
    );
    assert.match(text, /Yamada\^Tarou=山田\^太郎=やまだ\^たろう/);
    assert.match(text, /Διονυσιος/);
    assert.match(text, /김희중/);

    // Legacy encodings, each file with the names its Windows writes, detected (`auto`) or named.
    const legacy: [keyof typeof CODECS, string[], string[], "auto" | keyof typeof CODECS][] = [
      ["shift_jis", ["=山田^太郎", "やまだ^たろう"], ["H31EXAMPLE"], "auto"],
      ["gbk", ["=王^小东", "赵^磊", "张^伟"], ["X2EXAMPLE"], "auto"],
      ["euc-kr", ["김*", "박^서연"], ["2008-3"], "auto"],
      ["windows-1253", ["Διονυσιος", "Παπαδόπουλος^Γιώργος"], ["SCSGREEK"], "auto"],
      // chrRuss.dcm's name (ISO_IR 144), with the Latin c, e, y and p it was written with.
      ["windows-1251", ["Люкceмбypг", "Иванова^Анна"], ["SCSRUSS"], "auto"],
      ["windows-1252", ["Äneas^Rüdiger", "Müller^Jürgen"], ["SCSGERM"], "auto"],
      // The encoding named: `encoding` in batch.upload.
      ["gbk", ["=王^小东"], ["X2EXAMPLE"], "gbk"],
    ];
    for (const [encoding, names, found, named] of legacy) {
      const file = await encodeLegacy(`Patient Name;Modality\r\n${names.join(";\r\n")};\r\n`, encoding);
      const { id } = await r.client.batch.upload.mutate({
        kind: "query",
        filename: `${encoding}.csv`,
        contentBase64: toBase64(file),
        sites: ["north"],
        ...(named === "auto" ? {} : { encoding: named }),
      });
      const done = await eventually(`${encoding} done`, async () => {
        const s = await r.client.batch.status.query({ id });
        return s.status === "done" ? s : undefined;
      });
      assert.equal(done.matches, found.length, encoding);
      const results = new TextDecoder().decode(
        Uint8Array.from(
          atob((await r.client.batch.results.query({ id, format: "csv" })).contentBase64),
          (c) => c.charCodeAt(0),
        ),
      );
      for (const patient of found) assert.match(results, new RegExp(`,${patient},`), encoding);
    }
    // Excel's "Unicode Text": UTF-16 after its byte order mark, separated by tabs, saved as .txt.
    const unicodeText = await encodeLegacy(
      "Patient Name\tModality\r\n=山田^太郎\t\r\nΔιονυσιος\t\r\nЛюкceмбypг\t\r\n",
      "utf-16",
    );
    const fromText = await upload("names.txt", unicodeText);
    assert.deepEqual(fromText.errors, []);
    assert.equal(fromText.matches, 3);
    // One Chinese name alone reads as Greek letters in Windows-1253 too: detection asks, naming the choice.
    const one = { kind: "query" as const, filename: "one.csv", sites: ["north"] };
    const oneName = toBase64(await encodeLegacy("Patient Name\r\n王^芳\r\n", "gbk"));
    await assert.rejects(
      r.client.batch.upload.mutate({ ...one, contentBase64: oneName }),
      /reads as names in GBK \(Chinese\) or Windows-1253 \(Greek\) alike: choose its encoding/,
    );
    assert.ok((await r.client.batch.upload.mutate({ ...one, contentBase64: oneName, encoding: "gbk" })).id);
  },
);
