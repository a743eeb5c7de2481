import assert from "node:assert/strict";
import { DicomParseError, findElement, parseDataSet, readPart10Header, TruncatedError } from "./reader.ts";
import { encodingOf, TransferSyntax } from "./uids.ts";
import { buildFileMeta } from "./file_meta.ts";
import { stringValue } from "./values.ts";

/** Little helpers to write elements by hand. */
function le16(n: number): number[] {
  return [n & 0xff, n >> 8];
}
function le32(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
}
function tag(g: number, e: number): number[] {
  return [...le16(g), ...le16(e)];
}
function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0));
}
function explicit(g: number, e: number, vr: string, value: number[]): number[] {
  const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
  return long
    ? [...tag(g, e), ...ascii(vr), 0, 0, ...le32(value.length), ...value]
    : [...tag(g, e), ...ascii(vr), ...le16(value.length), ...value];
}
const ITEM = (len: number) => [...tag(0xfffe, 0xe000), ...le32(len)];
const ITEM_END = [...tag(0xfffe, 0xe00d), ...le32(0)];
const SEQ_END = [...tag(0xfffe, 0xe0dd), ...le32(0)];
const UNDEF = 0xffffffff;

const EXPLICIT = encodingOf(TransferSyntax.ExplicitVRLittleEndian);
const IMPLICIT = encodingOf(TransferSyntax.ImplicitVRLittleEndian);

Deno.test("parseDataSet() records offsets of explicit VR little endian elements", () => {
  const bytes = new Uint8Array([
    ...explicit(0x0008, 0x0060, "CS", ascii("CT")),
    ...explicit(0x0010, 0x0010, "PN", ascii("DOE^J ")),
  ]);
  const { dataset } = parseDataSet(bytes, EXPLICIT);
  assert.equal(dataset.elements.length, 2);
  const pn = findElement(dataset, 0x00100010)!;
  assert.equal(pn.vr, "PN");
  assert.equal(pn.valueOffset, 18);
  assert.equal(stringValue(bytes, pn), "DOE^J");
});

Deno.test("parseDataSet() reads implicit VR with the dictionary's VR", () => {
  const bytes = new Uint8Array([...tag(0x0010, 0x0020), ...le32(4), ...ascii("ID01")]);
  const { dataset } = parseDataSet(bytes, IMPLICIT);
  assert.equal(dataset.elements[0].vr, "LO");
  assert.equal(stringValue(bytes, dataset.elements[0]), "ID01");
});

Deno.test("parseDataSet() parses nested sequences of defined and undefined length", () => {
  const inner = explicit(0x0008, 0x1155, "UI", ascii("1.2.3\0"));
  const item = [...ITEM(UNDEF), ...inner, ...ITEM_END];
  const seq = [...tag(0x0008, 0x1140), ...ascii("SQ"), 0, 0, ...le32(UNDEF), ...item, ...SEQ_END];
  const definedItem = [...ITEM(inner.length), ...inner];
  const seq2 = [...tag(0x0008, 0x1199), ...ascii("SQ"), 0, 0, ...le32(definedItem.length), ...definedItem];
  const bytes = new Uint8Array([...seq, ...seq2, ...explicit(0x0020, 0x000d, "UI", ascii("9.9\0"))]);
  const { dataset } = parseDataSet(bytes, EXPLICIT);
  assert.equal(dataset.elements.length, 3);
  assert.equal(dataset.elements[0].items!.length, 1);
  assert.equal(dataset.elements[0].length, -1);
  assert.equal(stringValue(bytes, dataset.elements[0].items![0].elements[0]), "1.2.3");
  assert.equal(dataset.elements[1].items![0].elements[0].tag, 0x00081155);
  assert.equal(dataset.elements[2].tag, 0x0020000d);
});

Deno.test("parseDataSet() records encapsulated pixel data fragments and can stop before pixel data", () => {
  const frag = [1, 2, 3, 4];
  const pixel = [
    ...tag(0x7fe0, 0x0010),
    ...ascii("OB"),
    0,
    0,
    ...le32(UNDEF),
    ...ITEM(0),
    ...ITEM(4),
    ...frag,
    ...SEQ_END,
  ];
  const bytes = new Uint8Array([...explicit(0x0008, 0x0060, "CS", ascii("MR")), ...pixel]);
  const all = parseDataSet(bytes, EXPLICIT).dataset;
  assert.equal(all.elements[1].fragments!.length, 2);
  assert.equal(all.elements[1].fragments![1].length, 4);
  assert.equal(all.elements[1].end, bytes.length);
  const head = parseDataSet(bytes, EXPLICIT, { stopAtTag: 0x7fe00010 });
  assert.equal(head.stopped, true);
  assert.equal(head.dataset.elements.length, 1);
});

Deno.test("parseDataSet() throws TruncatedError when a value runs past the end, DicomParseError on nonsense", () => {
  const bytes = new Uint8Array(explicit(0x0010, 0x0010, "PN", ascii("DOE^JANE")).slice(0, 12));
  assert.throws(() => parseDataSet(bytes, EXPLICIT), TruncatedError);
  const garbage = new Uint8Array([0x08, 0x00, 0x60, 0x00, 0x01, 0x02, 0x02, 0x00, 0x41, 0x42]);
  assert.throws(() => parseDataSet(garbage, EXPLICIT), DicomParseError);
});

Deno.test("parseDataSet() ends the data set where zero bytes run to its end: trailing padding, not elements", () => {
  const body = [
    ...explicit(0x0008, 0x0060, "CS", ascii("CT")),
    ...explicit(0x7fe0, 0x0010, "OW", [1, 2, 3, 4]),
  ];
  for (
    const [encoding, elements] of [[EXPLICIT, body], [IMPLICIT, [
      ...tag(0x0008, 0x0060),
      ...le32(2),
      ...ascii("CT"),
    ]]] as const
  ) {
    const bytes = new Uint8Array(elements.length + 4096);
    bytes.set(elements);
    const { dataset } = parseDataSet(bytes, encoding);
    assert.equal(dataset.end, elements.length);
    assert.ok(dataset.elements.every((e) => e.tag !== 0), "no (0000,0000) elements");
  }
  // Zeros followed by anything else are no padding: explicit VR refuses them as before.
  const spoiled = new Uint8Array(body.length + 64);
  spoiled.set(body);
  spoiled[body.length + 40] = 8;
  assert.throws(() => parseDataSet(spoiled, EXPLICIT), DicomParseError);
});

Deno.test("parseDataSet() with partial: true asks for more data instead of ending early", () => {
  const bytes = new Uint8Array(explicit(0x0008, 0x0060, "CS", ascii("CT")));
  assert.throws(
    () => parseDataSet(bytes, EXPLICIT, { partial: true, stopAtTag: 0x7fe00010 }),
    TruncatedError,
  );
  assert.equal(parseDataSet(bytes, EXPLICIT, { stopAtTag: 0x7fe00010 }).dataset.elements.length, 1);
});

Deno.test("readPart10Header() finds the data set after a File Meta group we wrote", () => {
  const meta = buildFileMeta({
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    sopInstanceUid: "1.2.3",
    transferSyntax: "1.2.840.10008.1.2",
  });
  const body = [...tag(0x0010, 0x0020), ...le32(2), ...ascii("ID")];
  const file = new Uint8Array([...meta, ...body]);
  const h = readPart10Header(file);
  assert.equal(h.datasetOffset, meta.length);
  assert.equal(h.transferSyntax, "1.2.840.10008.1.2");
  assert.equal(h.sopInstanceUid, "1.2.3");
  assert.equal(h.hasPreamble, true);
  const lengthEl = findElement(h.meta, 0x00020000)!;
  const groupLength = new DataView(file.buffer).getUint32(lengthEl.valueOffset, true);
  assert.equal(groupLength, meta.length - lengthEl.end);
});

Deno.test("readPart10Header() reads every leading group 0002 element as File Meta, whatever its group length says", () => {
  const meta = buildFileMeta({
    sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
    sopInstanceUid: "1.2.3",
    transferSyntax: "1.2.840.10008.1.2.1",
  });
  // A (0002,0010) after the group's end by its group length (0002,0000): as pydicom reads it, more of the File
  // Meta group (DCMTK reads it as an invalid element of the data set and warns). The first Transfer Syntax UID
  // (the one inside the group length, as PS3.10 7.1 and DCMTK have it) is the data set's; the receiver writes
  // its own File Meta group, so the data set it keeps begins after the element and every reader reads it alike.
  const uid = ascii("1.2.840.10008.1.2.2\0");
  const trailing = [...tag(0x0002, 0x0010), ...ascii("UI"), uid.length, 0, ...uid];
  const body = [...tag(0x0010, 0x0020), ...ascii("LO"), 2, 0, ...ascii("ID")];
  const h = readPart10Header(new Uint8Array([...meta, ...trailing, ...body]));
  assert.equal(h.datasetOffset, meta.length + trailing.length);
  assert.equal(h.transferSyntax, "1.2.840.10008.1.2.1");
  // A group length that is simply wrong (a writer that added an element and kept the old length) changes nothing
  const wrong = new Uint8Array([...meta, ...body]);
  const lengthEl = findElement(readPart10Header(wrong).meta, 0x00020000)!;
  new DataView(wrong.buffer).setUint32(lengthEl.valueOffset, 7, true);
  assert.equal(readPart10Header(wrong).datasetOffset, meta.length);
});
