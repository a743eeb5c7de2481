import assert from "node:assert/strict";
import { generateInstance, generateStudies } from "@conduit/shared/testing";
import {
  encodingOf,
  findElement,
  parseDataSet,
  PIXEL_DATA,
  readPart10Header,
  stringValue,
} from "@conduit/shared/dicom";
import { pseudonymizeUid } from "@conduit/shared/deid/pseudonyms";
import { encodeText, rewriteDataSet } from "./rewrite.ts";

const KEY = new TextEncoder().encode("k");

function parse(bytes: Uint8Array, ts: string, start = 0) {
  return parseDataSet(bytes, encodingOf(ts), { start }).dataset;
}

Deno.test("rewriteDataSet() changes only what the editor says and keeps every other byte", () => {
  const [spec] = generateStudies({
    seed: "rw",
    patients: 1,
    studiesPerPatient: 1,
    series: [{ modality: "CT", instances: 1 }],
    rows: 4,
    columns: 4,
  });
  const file = generateInstance(spec);
  const h = readPart10Header(file);
  const ds =
    parseDataSet(file, encodingOf(h.transferSyntax), { start: h.datasetOffset, stopAtTag: PIXEL_DATA })
      .dataset;
  const out = rewriteDataSet(
    file,
    ds,
    (el) => {
      if (el.tag === 0x00100010) return { action: "replace", value: encodeText("PN", "ANON^X") };
      if (el.tag === 0x00080080) return { action: "remove" };
      if (el.tag === 0x00080050) return { action: "empty" };
      return { action: "keep" };
    },
    { explicit: true, littleEndian: true },
    [{ tag: 0x00120062, vr: "CS", value: encodeText("CS", "YES") }],
  );
  const again = parse(out, h.transferSyntax);
  assert.equal(stringValue(out, findElement(again, 0x00100010)!), "ANON^X");
  assert.equal(findElement(again, 0x00080080), undefined, "removed");
  assert.equal(findElement(again, 0x00080050)!.length, 0, "emptied");
  assert.equal(stringValue(out, findElement(again, 0x00120062)!), "YES");
  const tags = again.elements.map((e) => e.tag);
  assert.deepEqual(tags, [...tags].sort((a, b) => a - b), "tag order kept, the addition in its place");
  // Every element neither edited nor added is the same bytes as before.
  for (const el of ds.elements) {
    if ([0x00100010, 0x00080080, 0x00080050].includes(el.tag)) continue;
    const now = findElement(again, el.tag)!;
    assert.ok(
      Buffer.from(out.subarray(now.offset, now.end)).equals(Buffer.from(file.subarray(el.offset, el.end))),
      el.tag.toString(16),
    );
  }
});

Deno.test("rewriteDataSet() maps UIDs inside nested sequences and leaves untouched sequences as they were", async () => {
  const file = await Deno.readFile("/usr/lib/python3/dist-packages/pydicom/data/test_files/rtstruct.dcm")
    .catch(() => undefined);
  if (!file) return; // pydicom's test files are not installed
  const h = readPart10Header(file);
  const enc = encodingOf(h.transferSyntax);
  const ds = parseDataSet(file, enc, { start: h.datasetOffset }).dataset;
  const seen: string[] = [];
  const out = rewriteDataSet(file, ds, (el) => {
    if (el.vr === "UI" && el.tag !== 0x00080016 && el.tag !== 0x00081150) {
      const uid = stringValue(file, el);
      seen.push(uid);
      return { action: "replace", value: encodeText("UI", pseudonymizeUid(KEY, uid)) };
    }
    return { action: "keep" };
  }, enc);
  const again = parse(out, h.transferSyntax);
  assert.equal(again.end, out.length, "the whole output parses");
  const found: string[] = [];
  const walk = (set: typeof again, bytes: Uint8Array) => {
    for (const el of set.elements) {
      if (el.items) el.items.forEach((i) => walk(i, bytes));
      else if (el.vr === "UI" && el.tag !== 0x00080016 && el.tag !== 0x00081150) {
        found.push(stringValue(bytes, el));
      }
    }
  };
  walk(again, out);
  assert.ok(seen.length > 5, "nested references were visited");
  assert.deepEqual(
    found,
    seen.map((u) => pseudonymizeUid(KEY, u)),
    "every UID mapped, in place, to any depth",
  );
});
