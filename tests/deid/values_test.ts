/**
 * What D and the options' C give in places a QA pass (2026-12-07) found wrong, over a variant of pydicom's
 * CT_small.dcm that pydicom makes here: codes that name a staff member and an institution inside a D sequence,
 * dates in forms other than YYYYMMDD under Modified Dates, an overlay's description and label under Clean
 * Graphics, a byte value under D (Encapsulated Document, Type 1 where it is required); and the reason a file
 * that is not DICOM at all is refused with.
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import {
  type DataSet,
  encodingOf,
  findElement,
  parseDataSet,
  readPart10Header,
  stringValue,
} from "@conduit/shared/dicom";
import { dateShiftDays, shiftedDate, shiftedDateTime } from "@conduit/shared/deid/pseudonyms";
import { deidentifyFile } from "../../agent/deid/engine.ts";
import { standardProfile } from "../../agent/deid/profile.ts";
import { CT_SMALL, privateFixturesSkip } from "../support/private_fixtures.ts";

const MAKE = `
import sys
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
ds = pydicom.dcmread(sys.argv[1])
def code(value, meaning):
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = "99SEH"
    c.CodeMeaning = meaning
    return c
operator = Dataset()
operator.InstitutionName = "Saint Elsewhere"
operator.InstitutionCodeSequence = Sequence([code("SEH-001", "Saint Elsewhere Hospital Boston")])
operator.PersonIdentificationCodeSequence = Sequence([code("EMP-998877", "Jane Smith, radiographer")])
source = Dataset()
source.OperatorIdentificationSequence = Sequence([operator])
ds.ContributingSourcesSequence = Sequence([source])
ds.AcquisitionDate = "2024-04-01"
ds.AcquisitionDateTime = "202404"
ds.ContentDate = "yesterday"
ds.add_new(0x60000010, "US", 8)
ds.add_new(0x60000011, "US", 8)
ds.add_new(0x60000022, "LO", "overlay of John Doe")
ds.add_new(0x60000040, "CS", "G")
ds.add_new(0x60000050, "SS", [1, 1])
ds.add_new(0x60000100, "US", 1)
ds.add_new(0x60000102, "US", 0)
ds.add_new(0x60001500, "LO", "label John Doe")
ds.add_new(0x60003000, "OW", bytes(8))
ds.add_new(0x00420011, "OB", b"%PDF-1.4 John Doe, 19700101")
ds.save_as(sys.argv[2])
`;

const skip = await privateFixturesSkip();

Deno.test({
  name:
    "D replaces identifying codes, Modified Dates moves every date form or gives a dummy, Clean Graphics cleans overlay words, D on bytes zeroes them",
  ignore: skip !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "deid-values-" });
    const input = path.join(dir, "in.dcm");
    const made = await new Deno.Command("/usr/bin/python3", { args: ["-c", MAKE, CT_SMALL, input] }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const key = new TextEncoder().encode("values test key, 32 bytes long..");
    const profile = standardProfile(["retain-long-modified-dates", "clean-graphics"]);
    const out = path.join(dir, "out.dcm");
    const r = await deidentifyFile(input, out, { key, profile, allowBurnedIn: true });
    assert.equal(r.status, "done", JSON.stringify(r));
    const bytes = await Deno.readFile(out);
    const h = readPart10Header(bytes);
    const ds = parseDataSet(bytes, encodingOf(h.transferSyntax), { start: h.datasetOffset }).dataset;
    const get = (tag: number, set: DataSet = ds) => {
      const el = findElement(set, tag);
      return el ? stringValue(bytes, el) : undefined;
    };
    const item = (set: DataSet, tag: number) => {
      const items = findElement(set, tag)?.items;
      assert.ok(items?.length, `(${tag.toString(16)}) kept with an item`);
      return items[0];
    };

    // Person Identification Code Sequence (D) and Institution Code Sequence (X/Z/D, Type 1 here): kept for
    // their structure, with none of their words.
    const operator = item(item(ds, 0x00189506), 0x00081072);
    for (const seq of [0x00401101, 0x00080082]) {
      const code = item(operator, seq);
      for (const tag of [0x00080100, 0x00080102, 0x00080104]) {
        const value = get(tag, code);
        assert.ok(value, `(${seq.toString(16)}) > (${tag.toString(16)}) present and not empty`);
        assert.doesNotMatch(
          value,
          /SEH|EMP|Smith|Elsewhere/,
          `(${seq.toString(16)}) > (${tag.toString(16)})`,
        );
      }
    }
    const text = new TextDecoder("latin1").decode(bytes);
    for (const word of ["EMP-998877", "Jane Smith", "Saint Elsewhere", "John Doe"]) {
      assert.ok(!text.includes(word), `${word} gone from the output`);
    }

    // Modified Dates: a date in dashes and a DT of reduced precision are moved like the others; what is no
    // date gets the dummy, never its own value.
    const days = dateShiftDays(key, "1CT1"); // CT_small's Patient ID
    assert.equal(get(0x00080022), shiftedDate("2024-04-01", days));
    assert.notEqual(get(0x00080022), "2024-04-01");
    assert.equal(get(0x0008002a), shiftedDateTime("202404", days));
    assert.notEqual(get(0x0008002a), "202404");
    assert.equal(get(0x00080023), "19000101");
    assert.equal(get(0x00280303), "MODIFIED");

    // Clean Graphics: the overlay stays as graphics; its description and label are cleaned.
    assert.equal(get(0x60000022), "CLEANED");
    assert.equal(get(0x60001500), "CLEANED");
    assert.equal(findElement(ds, 0x60003000)?.length, 8, "the overlay's data kept");

    // D on an OB value: zeros of its length, not an empty value (Type 1 for encapsulated documents).
    const doc = findElement(ds, 0x00420011);
    assert.ok(doc && doc.length >= 28, "the document's length kept");
    assert.ok(bytes.subarray(doc.valueOffset, doc.valueOffset + doc.length).every((b) => b === 0));
  },
});

Deno.test("a file that is not DICOM at all is refused as such, and a truncated one by what the reader found", async () => {
  const dir = await Deno.makeTempDir({ prefix: "deid-values-" });
  const profile = standardProfile();
  const key = new TextEncoder().encode("values test key, 32 bytes long..");
  const textFile = path.join(dir, "notes.txt");
  await Deno.writeTextFile(textFile, "hello, this is a plain text file and no DICOM object at all\n");
  const r = await deidentifyFile(textFile, path.join(dir, "a.dcm"), { key, profile });
  assert.equal(r.status, "failed");
  assert.match(r.status === "failed" ? r.reason : "", /not DICOM \(no DICM prefix/);
  // A data set cut short keeps the reader's reason: group 0008 at its start says it is one.
  const cut = path.join(dir, "cut.dcm");
  await Deno.writeFile(cut, new Uint8Array([0x08, 0x00, 0x16, 0x00, 0x55, 0x49, 0x40, 0x00, 0x31, 0x2e]));
  const c = await deidentifyFile(cut, path.join(dir, "b.dcm"), { key, profile });
  assert.equal(c.status, "failed");
  assert.doesNotMatch(c.status === "failed" ? c.reason : "", /not DICOM/);
  await Deno.remove(dir, { recursive: true });
});
