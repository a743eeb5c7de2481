/**
 * decodeCsv(): batch files in the encodings Excel's plain "CSV" writes on Windows (real bytes from python3's
 * codecs), detected when one encoding alone reads them as names, refused naming the choice when several or
 * none do, and read as named when the user names one.
 */
import assert from "node:assert/strict";
import { CsvEncodingError, decodeCsv, type KnownEncoding } from "./csv_text.ts";
import { encodeLegacy } from "../tests/support/legacy_text.ts";

/** A few names each, as a site's list of patients would have them. */
const NAMES: Record<Exclude<KnownEncoding, "utf-8">, string[]> = {
  "utf-16": ["山田^太郎", "Διονυσιος", "Иванов^Иван", "Müller^Jürgen", "김희중"],
  shift_jis: ["山田^太郎", "やまだ^たろう", "ヤマダ^タロウ", "鈴木^一郎", "ﾔﾏﾀﾞ^ﾀﾛｳ"],
  gbk: ["王^芳", "李^娜", "张^伟", "刘^洋", "陈^静"],
  "euc-kr": ["김희중", "이^민호", "박^서연", "최^지우"],
  "windows-1251": ["Иванов^Иван^Иванович", "Шевченко^Тарас", "Петров^Георги", "Люкceмбypг"],
  "windows-1253": ["Διονυσιος", "Παπαδόπουλος^Γιώργος", "ΝΙΚΟΛΑΟΥ^ΜΑΡΙΑ", "Οικονόμου^Ελένη"],
  "windows-1252": ["Müller^Jürgen", "Øster^Åse", "García^José", "O’Brien^Seán"],
};

const file = (names: string[]) =>
  "Patient Name;Patient ID\r\n" + names.map((n, i) => `${n};P${i}\r\n`).join("");

Deno.test("decodeCsv() detects each legacy encoding from a list of names, and reads them as written", async () => {
  for (const [encoding, names] of Object.entries(NAMES) as [keyof typeof NAMES, string[]][]) {
    const bytes = await encodeLegacy(file(names), encoding);
    assert.throws(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes), TypeError, "not UTF-8");
    assert.deepEqual(decodeCsv(bytes), { text: file(names), encoding }, encoding);
    assert.deepEqual(decodeCsv(bytes, encoding), { text: file(names), encoding }, `${encoding}, named`);
  }
});

Deno.test("decodeCsv() takes UTF-8 first, with or without its byte order mark", () => {
  const text = file(["Müller^Jürgen", "山田^太郎", "Διονυσιος", "김희중"]);
  const bytes = new TextEncoder().encode(text);
  assert.deepEqual(decodeCsv(bytes), { text, encoding: "utf-8" });
  assert.deepEqual(decodeCsv(new Uint8Array([0xef, 0xbb, 0xbf, ...bytes])), { text, encoding: "utf-8" });
  assert.deepEqual(decodeCsv(new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]), "utf-8"), {
    text,
    encoding: "utf-8",
  });
});

Deno.test("decodeCsv() refuses, naming the choice, a file several encodings or none read as names", async () => {
  // One Chinese name: its two bytes a character are Greek letters in Windows-1253 too.
  const one = await encodeLegacy(file(["王^芳"]), "gbk");
  assert.throws(
    () => decodeCsv(one),
    (e) =>
      e instanceof CsvEncodingError &&
      e.message ===
        'the file is not UTF-8, and reads as names in GBK (Chinese) or Windows-1253 (Greek) alike: choose its encoding, or save it as "CSV UTF-8" or as XLSX',
  );
  assert.equal(decodeCsv(one, "gbk").text, file(["王^芳"]));
  // A stray byte at a line's end (0x81: a control character in Windows-1252 and -1253, a lead byte without
  // its pair in Shift_JIS): no encoding reads the file as names.
  const stray = new Uint8Array([
    ...new TextEncoder().encode("Patient Name\r\nM"),
    0x81,
    ...new TextEncoder().encode("\r\n"),
  ]);
  assert.throws(
    () => decodeCsv(stray),
    (e) =>
      e instanceof CsvEncodingError &&
      /^the file is not UTF-8, and none of Shift_JIS \(Japanese\), GBK \(Chinese\), EUC-KR \(Korean\), Windows-1251 \(Cyrillic\), Windows-1253 \(Greek\), Windows-1252 \(Western European\) reads it as names in one script: choose its encoding/
        .test(e.message),
  );
});

Deno.test("decodeCsv() refuses an encoding named that cannot read the file, saying where", async () => {
  const japanese = await encodeLegacy(file(NAMES.shift_jis), "shift_jis");
  assert.throws(
    () => decodeCsv(japanese, "utf-8"),
    (e) =>
      e instanceof CsvEncodingError &&
      e.message ===
        "the file is not UTF-8: it has bytes that encoding does not have (row 2 has the first); choose another encoding, or Detect",
  );
  // UTF-8's byte order mark before another encoding: the file says what it is.
  const marked = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(file(["王^芳"]))]);
  assert.throws(
    () => decodeCsv(marked, "gbk"),
    (e) =>
      e instanceof CsvEncodingError &&
      e.message ===
        "the file begins with UTF-8's byte order mark, so it is UTF-8, not GBK (Chinese): choose UTF-8 or Detect",
  );
  // Windows-1252 named for a Greek file reads (every byte is a character there): the preview shows mojibake.
  const greek = await encodeLegacy(file(["Διονυσιος"]), "windows-1253");
  assert.equal(decodeCsv(greek, "windows-1252").text.split("\r\n")[1], "Äéïíõóéïò;P0");
});

/**
 * Names whose every byte is a letter in Windows-1251 and in Windows-1253 alike (no Т, я, Ё... whose bytes
 * Windows-1253 has not): only the letters' likelihood tells them apart. (Each list has a word of an odd
 * number of letters: one of even numbers only reads as GBK too, and detection asks.)
 */
const BOTH_WAYS: [KnownEncoding, string[]][] = [
  ["windows-1251", ["Иванова^Анна^Ивановна"]],
  ["windows-1251", ["Быков^Олег"]],
  ["windows-1251", ["Смирнова^Ольга", "Кузнецов^Дмитрий"]],
  ["windows-1251", ["Петрова^Елена"]],
  ["windows-1251", ["ЕЛЕНА", "Ким^Ен"]],
  ["windows-1253", ["Διονυσιος"]],
  ["windows-1253", ["Παπαδόπουλος^Γιώργος"]],
  ["windows-1253", ["ΝΙΚΟΛΑΟΥ^ΜΑΡΙΑ", "Οικονόμου^Ελένη"]],
  ["windows-1253", ["ΠΑΠΑΔΟΠΟΥΛΟΥ^ΜΑΡΙΑ", "Ανδρέας"]],
  ["windows-1253", ["Ζωή", "Αλέξανδρος"]],
];

Deno.test("decodeCsv() tells Cyrillic names from Greek ones by their letters when the bytes read as both", async () => {
  for (const [encoding, names] of BOTH_WAYS) {
    const bytes = await encodeLegacy(file(names), encoding as "windows-1251" | "windows-1253");
    for (const e of ["windows-1251", "windows-1253"]) {
      assert.doesNotThrow(() => new TextDecoder(e, { fatal: true }).decode(bytes), `${names} in ${e}`);
    }
    assert.deepEqual(decodeCsv(bytes), { text: file(names), encoding }, names.join(", "));
  }
  // One Greek name whose letters are as likely read as Cyrillic (Оенпцюн): the user chooses.
  const xenophon = await encodeLegacy(file(["Ξενοφών"]), "windows-1253");
  assert.throws(
    () => decodeCsv(xenophon),
    (e) =>
      e instanceof CsvEncodingError &&
      e.message.startsWith(
        "the file is not UTF-8, and reads as names in Windows-1251 (Cyrillic) or Windows-1253 (Greek) alike",
      ),
  );
  assert.equal(decodeCsv(xenophon, "windows-1253").text, file(["Ξενοφών"]));
});

Deno.test("decodeCsv() takes Cyrillic words with Latin look-alikes as Windows-1251, not Western mojibake", async () => {
  // pydicom's chrRuss.dcm name, Latin c, e, y, p in it: Windows-1252 reads Ëþêceìáypã (six letters of ten
  // accented), Windows-1253 a word of Greek and Latin letters.
  const russ = await encodeLegacy(file(["Люкceмбypг"]), "windows-1251");
  assert.deepEqual(decodeCsv(russ), { text: file(["Люкceмбypг"]), encoding: "windows-1251" });
  // A Western name read as Windows-1251 holds Latin letters no Cyrillic one looks like (Mьller): not Cyrillic.
  const western = await encodeLegacy(file(["Müller^Jürgen", "García^José"]), "windows-1252");
  assert.equal(decodeCsv(western).encoding, "windows-1252");
  assert.equal(new TextDecoder("windows-1251").decode(western).split("\r\n")[1], "Mьller^Jьrgen;P0");
});

Deno.test("decodeCsv() reads UTF-16 by its byte order mark (Excel's Unicode Text), either way round", async () => {
  // Excel's "Unicode Text" is tab-separated UTF-16, little-endian, after its byte order mark.
  const text = "Patient Name\tPatient ID\r\n山田^太郎\tP1\r\nΔιονυσιος\tP2\r\n";
  const le = await encodeLegacy(text, "utf-16");
  assert.deepEqual([le[0], le[1]], [0xff, 0xfe]);
  assert.deepEqual(decodeCsv(le), { text, encoding: "utf-16" });
  // Big-endian, its mark first.
  const be = new Uint8Array(le.length);
  for (let i = 0; i < le.length; i += 2) [be[i], be[i + 1]] = [le[i + 1], le[i]];
  assert.deepEqual([be[0], be[1]], [0xfe, 0xff]);
  assert.deepEqual(decodeCsv(be), { text, encoding: "utf-16" });
  // Named without a mark: little-endian, as Windows writes it.
  assert.deepEqual(decodeCsv(le.subarray(2), "utf-16"), { text, encoding: "utf-16" });
  // Another encoding named for a file that says it is UTF-16; a unit cut in half.
  assert.throws(
    () => decodeCsv(le, "shift_jis"),
    (e) =>
      e instanceof CsvEncodingError &&
      e.message ===
        "the file begins with UTF-16's byte order mark, so it is UTF-16, not Shift_JIS (Japanese): choose UTF-16 or Detect",
  );
  assert.throws(
    () => decodeCsv(le.subarray(0, le.length - 1)),
    (e) =>
      e instanceof CsvEncodingError &&
      /^the file is not UTF-16 \(Excel's Unicode Text\): it has bytes that encoding does not have/.test(
        e.message,
      ),
  );
});
