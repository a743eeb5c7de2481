import assert from "node:assert/strict";
import { findElement, parseDataSet, readPart10Header } from "./reader.ts";
import { encodingOf } from "./uids.ts";
import { datasetToJson } from "./json.ts";
import { instanceAttributes } from "./header.ts";
import { specificCharacterSetTerm, stringValue, stringValues, TextDecoding } from "./values.ts";
import type { Element } from "./reader.ts";

/** Bytes of a string of code points 0-255 (escape sequences and raw bytes written as \x..). */
function bytes(s: string): Uint8Array {
  return Uint8Array.from([...s].map((c) => c.charCodeAt(0)));
}

function el(vr: string, length: number): Element {
  return { tag: 0x00100010, vr, offset: 0, valueOffset: 0, length, end: length } as Element;
}

/** Decodes `raw` as a value of VR `vr` under `charset`, values split at `\`. */
function decode(charset: string, vr: string, raw: string): string[] {
  const b = bytes(raw);
  return stringValues(b, el(vr, b.length), new TextDecoding(charset));
}

// --- pydicom's character set test files, decoded by pydicom and by us -------------------------------

/** A Python with pydicom: `python3` on PATH may be another one than Debian's. */
function pydicomPython(): string | undefined {
  for (const exe of ["python3", "/usr/bin/python3"]) {
    try {
      const r = new Deno.Command(exe, { args: ["-c", "import pydicom"], stdout: "null", stderr: "null" })
        .outputSync();
      if (r.success) return exe;
    } catch {
      // not installed
    }
  }
  return undefined;
}

/** For every `chr*.dcm` of pydicom's charset_files: top-level text values and PatientName's groups. */
const PYDICOM_SCRIPT = `
import glob, json, os, pydicom
out = []
d = os.path.join(os.path.dirname(pydicom.__file__), "data", "charset_files")
for path in sorted(glob.glob(os.path.join(d, "chr*.dcm"))):
    ds = pydicom.dcmread(path)
    text = {}
    for e in ds:
        if e.VR in ("PN", "LO", "SH", "LT", "ST", "UT", "UC") and e.tag != 0x00080005:
            v = e.value
            vs = list(v) if isinstance(v, pydicom.multival.MultiValue) else ([] if v is None else [v])
            text["%08X" % e.tag] = "\\\\".join(str(x) for x in vs)
    pn = ds.get("PatientName")
    groups = (list(pn.components) + ["", ""])[:3] if pn is not None else None
    nested = {}
    for e in ds:
        if e.VR == "SQ":
            for i, item in enumerate(e.value):
                for n in item:
                    if n.VR == "PN":
                        nested["%08X/%d/%08X" % (e.tag, i, n.tag)] = str(n.value)
    out.append({"path": path, "text": text, "patientName": groups, "nested": nested})
print(json.dumps(out))
`;

interface PydicomFile {
  path: string;
  text: Record<string, string>;
  patientName: [string, string, string] | null;
  nested: Record<string, string>;
}

const python = pydicomPython();
const expected: PydicomFile[] = python ? runPydicom(python) : [];

function runPydicom(python: string): PydicomFile[] {
  const r = new Deno.Command(python, { args: ["-c", PYDICOM_SCRIPT] }).outputSync();
  if (!r.success) throw new Error(`pydicom script failed: ${new TextDecoder().decode(r.stderr)}`);
  return JSON.parse(new TextDecoder().decode(r.stdout));
}
const pydicomSkip = !python
  ? "no python3 with pydicom (apt-get install python3-pydicom)"
  : expected.length === 0
  ? "pydicom ships no data/charset_files/chr*.dcm"
  : "";
if (pydicomSkip) console.warn(`values_test: pydicom comparison skipped: ${pydicomSkip}`);

function readFile(path: string) {
  const raw = Deno.readFileSync(path);
  const header = readPart10Header(raw);
  const { dataset } = parseDataSet(raw, encodingOf(header.transferSyntax), { start: header.datasetOffset });
  return { raw, dataset, header };
}

Deno.test({
  name: "pydicom's charset files: PatientName decodes to pydicom's groups, and every text value alike",
  ignore: !!pydicomSkip,
  fn() {
    const names = expected.map((f) => f.path.split("/").at(-1));
    // the ISO 2022 files are among them, or this test proves little
    for (const n of ["chrH31.dcm", "chrH32.dcm", "chrI2.dcm", "chrX1.dcm", "chrX2.dcm"]) {
      assert.ok(names.includes(n), `${n} missing from pydicom's charset files`);
    }
    for (const file of expected) {
      const name = file.path.split("/").at(-1);
      const { raw, dataset, header } = readFile(file.path);
      const attrs = instanceAttributes(raw, dataset, header);
      if (file.patientName) {
        const ours = attrs.patientName.split("=");
        const theirs = file.patientName;
        for (let g = 0; g < 3; g++) {
          assert.equal(ours[g] ?? "", theirs[g], `${name}: PatientName group ${g + 1}`);
        }
      }
      const decoding = new TextDecoding(attrs.specificCharacterSet);
      for (const [tag, value] of Object.entries(file.text)) {
        const e = findElement(dataset, parseInt(tag, 16))!;
        let ours = stringValues(raw, e, decoding).join("\\");
        // pydicom writes a name without its trailing empty groups
        if (e.vr === "PN") ours = ours.split("\\").map((v) => v.replace(/=+$/, "")).join("\\");
        assert.equal(ours, value, `${name}: (${tag})`);
      }
    }
  },
});

Deno.test({
  name: "pydicom's charset files: DICOM JSON decodes a sequence item under its own Specific Character Set",
  ignore: !!pydicomSkip,
  fn() {
    const files = expected.filter((f) => Object.keys(f.nested).length > 0);
    assert.ok(files.length > 0, "no charset file with names in a sequence");
    for (const file of files) {
      const { raw, dataset } = readFile(file.path);
      const json = datasetToJson(raw, dataset, { littleEndian: true });
      for (const [path, value] of Object.entries(file.nested)) {
        const [sq, index, tag] = path.split("/");
        // deno-lint-ignore no-explicit-any
        const item = (json[sq].Value as any[])[Number(index)];
        const pn = item[tag].Value[0] as Record<string, string>;
        const text = [pn.Alphabetic ?? "", pn.Ideographic ?? "", pn.Phonetic ?? ""].join("=").replace(
          /=+$/,
          "",
        );
        assert.equal(text, value, `${file.path.split("/").at(-1)}: ${path}`);
      }
    }
  },
});

// --- code extensions, by hand (PS3.5 6.1.2.5 and Annex H/I/J examples) ------------------------------

Deno.test("TextDecoding: JIS X 0208 in G0 resets at ^ and =, katakana in G1 from value 1", () => {
  // PS3.5 H.3.2: ISO 2022 IR 13 as value 1 puts JIS X 0201 katakana in G1 from the start.
  const raw =
    "\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J";
  assert.deepEqual(decode("ISO 2022 IR 13\\ISO 2022 IR 87", "PN", raw), ["ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"]);
});

Deno.test("TextDecoding: KS X 1001 in G1 after ESC $ ) C, ASCII around it", () => {
  const raw = "Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";
  assert.deepEqual(decode("\\ISO 2022 IR 149", "PN", raw), ["Hong^Gildong=洪^吉洞=홍^길동"]);
});

Deno.test("TextDecoding: each value of a multi-valued element starts again in the initial state", () => {
  // Greek designated in G1 holds until `\`; the next value's 0xC4 is ISO-IR 100's again
  const greek = "ISO 2022 IR 100\\ISO 2022 IR 126";
  assert.deepEqual(decode(greek, "LO", "\x1b-F\xc4\\\xc4"), ["Δ", "Ä"]);
  // in a PN, at `^` and `=` too; in an LO those are text
  assert.deepEqual(decode(greek, "PN", "\x1b-F\xc4^\xc4=\x1b-F\xc4=\xc4"), ["Δ^Ä=Δ=Ä"]);
  assert.deepEqual(decode(greek, "LO", "\x1b-F\xc4^\xc4=\xc4"), ["Δ^Δ=Δ"]);
});

Deno.test("TextDecoding: a delimiter byte inside a two-byte character is that character's", () => {
  // 05/12 as the second byte of JIS X 0208 0x215C (＋), not a value delimiter
  assert.deepEqual(decode("\\ISO 2022 IR 87", "LO", "\x1b$B!\\\x1b(B"), ["＋"]);
  // 0x3D5E (as ^ and = in ASCII) is one kanji in a PN component
  assert.deepEqual(decode("\\ISO 2022 IR 87", "PN", "\x1b$B=^\x1b(B^X"), ["殉^X"]);
});

Deno.test("TextDecoding: text VRs return to the initial state at CR, LF and TAB, not at `\\`", () => {
  const raw = "\x1b-F\xc4\xe9\r\n\xc4\\\x1b$)C\xb1\xe6\t\xc4";
  // after CR LF and TAB, G1 is ISO-IR 100 again (value 1), so 0xC4 is Ä; `\` is text in an LT
  assert.deepEqual(decode("ISO 2022 IR 100\\ISO 2022 IR 126\\ISO 2022 IR 149", "LT", raw), [
    "Δι\r\nÄ\\길\tÄ",
  ]);
});

Deno.test("TextDecoding: JIS X 0212 (ESC $ ( D), GB 2312 in G1 (ESC $ ) A), single-byte G1 sets", () => {
  // JIS X 0212 0x3021 is 丂 (U+4E02)
  assert.deepEqual(decode("\\ISO 2022 IR 159", "LO", "\x1b$(D0!\x1b(B"), ["丂"]);
  // GB 2312 0xCDF5 王, 0xD0A1 小
  assert.deepEqual(decode("\\ISO 2022 IR 58", "PN", "Wang^XiaoDong=\x1b$)A\xcd\xf5^\x1b$)A\xd0\xa1"), [
    "Wang^XiaoDong=王^小",
  ]);
  assert.deepEqual(decode("ISO 2022 IR 100\\ISO 2022 IR 144", "LO", "\xc4\x1b-L\xbb\xee\x1b-A\xe9"), [
    "ÄЛюé",
  ]);
  assert.deepEqual(decode("\\ISO 2022 IR 166", "LO", "\x1b-T\xa1"), ["ก"]);
});

Deno.test("TextDecoding: single-byte, UTF-8, GB18030 and GBK sets decode as before", () => {
  assert.deepEqual(decode("", "LO", "Caf\xe9"), ["Café"]);
  assert.deepEqual(decode("ISO_IR 100", "PN", "Buc^J\xe9r\xf4me"), ["Buc^Jérôme"]);
  assert.deepEqual(decode("ISO_IR 144", "PN", "\xbb\xee\xda"), ["Люк"]);
  assert.deepEqual(decode("ISO_IR 13", "PN", "\xd4\xcf\xc0\xde"), ["ﾔﾏﾀﾞ"]);
  assert.deepEqual(decode("ISO_IR 192", "PN", "Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1"), [
    "Wang^XiaoDong=王^小東",
  ]);
  assert.deepEqual(decode("GB18030", "PN", "Wang^XiaoDong=\xcd\xf5^\xd0\xa1\xb6\xab"), [
    "Wang^XiaoDong=王^小东",
  ]);
  // GBK's second byte may be 05/12: the value is decoded before it is split
  assert.deepEqual(decode("GBK", "LO", "\x81\x5c\\A"), ["乗", "A"]);
  // a high byte without a designated G1 is read with the G1 set named last
  assert.deepEqual(decode("\\ISO 2022 IR 149", "LO", "\xb1\xe6"), ["길"]);
  const b = bytes("AB ");
  assert.equal(stringValue(b, el("CS", 3)), "AB");
});

Deno.test("TextDecoding: a misspelled Specific Character Set is read as the set it names, as pydicom does", () => {
  assert.deepEqual(decode("ISO-IR 126", "PN", "\xc4\xe9\xef"), ["Διο"]);
  assert.deepEqual(decode("ISO IR 144", "PN", "\xbb\xee\xda"), ["Люк"]);
  assert.deepEqual(decode("ISO_IR138", "PN", "\xf9\xf8"), ["שר"]);
  assert.deepEqual(decode("iso_ir 192", "PN", "\xce\x94"), ["Δ"]);
  assert.deepEqual(decode("gb18030", "PN", "\xcd\xf5"), ["王"]);
  assert.deepEqual(decode("\\ISO-2022-IR-149", "PN", "\x1b$)C\xb1\xe8"), ["김"]);
  assert.equal(specificCharacterSetTerm(" ISO-IR 100 "), "ISO_IR 100");
  assert.equal(specificCharacterSetTerm("ISO2022IR87"), "ISO 2022 IR 87");
  // Anything else stays ASCII with ISO 8859-1 above 7F.
  assert.deepEqual(decode("LATIN1", "PN", "\xe9"), ["é"]);
});
