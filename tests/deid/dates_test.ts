/**
 * Retain Longitudinal Temporal Information with Modified Dates on date-times that carry their own offset from
 * UTC, over a variant of pydicom's CT_small.dcm that pydicom makes here (Timezone Offset From UTC -0500, an
 * Acquisition DateTime with the offset, a Content Sequence DATETIME item with another).
 */
import assert from "node:assert/strict";
import * as path from "node:path";
import { encodingOf, findElement, parseDataSet, readPart10Header, stringValue } from "@conduit/shared/dicom";
import { dateShiftDays, shiftedDate } from "@conduit/shared/deid/pseudonyms";
import { deidentifyFile } from "../../agent/deid/engine.ts";
import { standardProfile } from "../../agent/deid/profile.ts";
import { CT_SMALL, privateFixturesSkip } from "../support/private_fixtures.ts";

const MAKE = `
import sys
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
ds = pydicom.dcmread(sys.argv[1])
ds.TimezoneOffsetFromUTC = "-0500"
ds.AcquisitionDateTime = "20040119072730.123456-0500"
ds.AcquisitionTime = "072730"
item = Dataset()
item.RelationshipType = "CONTAINS"
item.ValueType = "DATETIME"
item.DateTime = "20040119101010+0100"
ds.ContentSequence = Sequence([item])
ds.save_as(sys.argv[2])
`;

const skip = await privateFixturesSkip();

Deno.test({
  name: "modified dates: a date-time's own offset from UTC goes, as Timezone Offset From UTC becomes +0000",
  ignore: skip !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "deid-dates-" });
    const input = path.join(dir, "in.dcm");
    const made = await new Deno.Command("/usr/bin/python3", { args: ["-c", MAKE, CT_SMALL, input] }).output();
    assert.ok(made.success, new TextDecoder().decode(made.stderr));
    const key = new TextEncoder().encode("dates test key, 32 bytes long...");
    const options = ["retain-long-modified-dates", "clean-structured-content"];
    // The default range, and a custom one of 0 days: the option still hides the offsets and says MODIFIED.
    for (const range of [undefined, { minDays: 0, maxDays: 0 }]) {
      const out = path.join(dir, `out-${range ? "0" : "default"}.dcm`);
      const profile = standardProfile(
        options,
        range && { name: "zero", actions: new Map(), shiftDates: range },
      );
      const r = await deidentifyFile(input, out, { key, profile });
      assert.equal(r.status, "done", JSON.stringify(r));
      const bytes = await Deno.readFile(out);
      const h = readPart10Header(bytes);
      const ds = parseDataSet(bytes, encodingOf(h.transferSyntax), { start: h.datasetOffset }).dataset;
      const get = (tag: number, set = ds) => stringValue(bytes, findElement(set, tag)!);
      const days = range ? 0 : dateShiftDays(key, "1CT1"); // CT_small's Patient ID
      assert.ok(range || days < 0);
      const date = shiftedDate("20040119", days);
      assert.equal(get(0x00080201), "+0000");
      assert.equal(get(0x0008002a), `${date}072730.123456`);
      const [item] = findElement(ds, 0x0040a730)!.items!;
      assert.equal(get(0x0040a120, item), `${date}101010`);
      assert.equal(get(0x00080032), "072730", "times as they were");
      assert.equal(get(0x00280303), "MODIFIED");
    }
  },
});
