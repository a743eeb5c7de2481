import assert from "node:assert/strict";
import { bigToLittleEndian, explicitToImplicit, implicitToExplicit } from "./transcode.ts";
import { type DataSet, parseDataSet } from "./reader.ts";
import { encodingOf, TransferSyntax } from "./uids.ts";

function explicit(tag: number, vr: string, value: Uint8Array): Uint8Array {
  const long = ["OB", "OW", "SQ", "UN", "UT"].includes(vr);
  const out = new Uint8Array((long ? 12 : 8) + value.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  out[4] = vr.charCodeAt(0);
  out[5] = vr.charCodeAt(1);
  if (long) v.setUint32(8, value.length, true);
  else v.setUint16(6, value.length, true);
  out.set(value, long ? 12 : 8);
  return out;
}
const cat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
};
const text = (s: string) => new TextEncoder().encode(s);
/** An item with a defined length. */
function item(body: Uint8Array): Uint8Array {
  const head = new Uint8Array(8);
  const v = new DataView(head.buffer);
  v.setUint16(0, 0xfffe, true);
  v.setUint16(2, 0xe000, true);
  v.setUint32(4, body.length, true);
  return cat([head, body]);
}

/** Each element as `path = value bytes`, for comparing data sets across encodings. */
function values(bytes: Uint8Array, ds: DataSet, prefix = ""): string[] {
  return ds.elements.flatMap((el) => {
    const tag = `${prefix}${el.tag.toString(16)}`;
    if (el.items) return [`${tag} items`, ...el.items.flatMap((it, i) => values(bytes, it, `${tag}/${i}/`))];
    return [`${tag} = ${Array.from(bytes.subarray(el.valueOffset, el.valueOffset + el.length)).join(",")}`];
  });
}

Deno.test("explicitToImplicit keeps every element and value, nested sequences with defined lengths included", () => {
  const inner = explicit(0x00081150, "UI", text("1.2.840.10008.5.1.4.1.1.7\0"));
  const nested = explicit(0x00081199, "SQ", item(cat([inner, explicit(0x00081155, "UI", text("1.2.3\0"))])));
  const source = cat([
    explicit(0x00080016, "UI", text("1.2.840.10008.5.1.4.1.1.7\0")),
    explicit(0x00081115, "SQ", cat([item(nested), item(new Uint8Array(0))])),
    explicit(0x00100010, "PN", text("Doe^Jane")),
    explicit(0x00100020, "LO", new Uint8Array(0)),
    explicit(0x00291010, "OB", new Uint8Array([1, 2, 3, 4])),
    explicit(0x7fe00010, "OW", new Uint8Array([5, 6, 7, 8])),
  ]);
  const parsed = parseDataSet(source, encodingOf(TransferSyntax.ExplicitVRLittleEndian)).dataset;
  const implicit = cat(explicitToImplicit(source, parsed));
  const back = parseDataSet(implicit, encodingOf(TransferSyntax.ImplicitVRLittleEndian)).dataset;
  assert.deepEqual(values(implicit, back), values(source, parsed));
  // And back again: the same values in Explicit VR (private tags as UN).
  const explicitAgain = cat(
    implicitToExplicit(implicit, back, { pixelRepresentation: 0, bitsAllocated: 16 }),
  );
  const again = parseDataSet(explicitAgain, encodingOf(TransferSyntax.ExplicitVRLittleEndian)).dataset;
  assert.deepEqual(values(explicitAgain, again), values(source, parsed));
});

Deno.test("bigToLittleEndian swaps each number by its VR and copies text, items with undefined lengths", () => {
  const be = (tag: number, vr: string, value: number[]) => {
    const out = new Uint8Array(8 + value.length);
    const v = new DataView(out.buffer);
    v.setUint16(0, tag >>> 16, false);
    v.setUint16(2, tag & 0xffff, false);
    out[4] = vr.charCodeAt(0);
    out[5] = vr.charCodeAt(1);
    v.setUint16(6, value.length, false);
    out.set(value, 8);
    return out;
  };
  const beItem = (body: Uint8Array) => {
    const head = new Uint8Array(8);
    const v = new DataView(head.buffer);
    v.setUint16(0, 0xfffe, false);
    v.setUint16(2, 0xe000, false);
    v.setUint32(4, body.length, false);
    return cat([head, body]);
  };
  const inner = be(0x00189219, "FD", [0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18]); // pi
  const sq = beItem(inner);
  const sqHead = new Uint8Array(12);
  new DataView(sqHead.buffer).setUint16(0, 0x0040, false);
  new DataView(sqHead.buffer).setUint16(2, 0xa730, false);
  sqHead[4] = 0x53, sqHead[5] = 0x51;
  new DataView(sqHead.buffer).setUint32(8, sq.length, false);
  const source = cat([
    be(0x00080060, "CS", Array.from(text("MR"))),
    be(0x00209165, "AT", [0x00, 0x20, 0x00, 0x32]), // (0020,0032)
    be(0x00280010, "US", [0x01, 0x02]),
    be(0x00281052, "SS", [0xff, 0xfe]),
    be(0x00180088, "UL", [0x00, 0x01, 0x02, 0x03]),
    sqHead,
    sq,
  ]);
  const parsed = parseDataSet(source, encodingOf(TransferSyntax.ExplicitVRBigEndian)).dataset;
  const little = cat(bigToLittleEndian(source, parsed));
  const back = parseDataSet(little, encodingOf(TransferSyntax.ExplicitVRLittleEndian)).dataset;
  assert.deepEqual(values(little, back), [
    `80060 = ${Array.from(text("MR")).join(",")}`,
    "209165 = 32,0,50,0",
    "280010 = 2,1",
    "281052 = 254,255",
    "180088 = 3,2,1,0",
    "40a730 items",
    "40a730/0/189219 = 24,45,68,84,251,33,9,64",
  ]);
});

Deno.test("bigToLittleEndian swaps 32-bit Pixel Data (OW) by 16-bit words, as PS3.5 8.2 packs it", () => {
  // Bits Allocated 32, two samples 0x00130EE8 and 0x01020304: each the low word then the high word, each
  // word big endian (PS3.5 2016b 8.2: cells packed low bit first across 16-bit words; only the words'
  // byte order follows the transfer syntax), as DCMTK's dcmconv +tb writes them.
  const head = (tag: number, vr: string, length: number, long: boolean) => {
    const out = new Uint8Array(long ? 12 : 8);
    const v = new DataView(out.buffer);
    v.setUint16(0, tag >>> 16, false);
    v.setUint16(2, tag & 0xffff, false);
    out[4] = vr.charCodeAt(0);
    out[5] = vr.charCodeAt(1);
    if (long) v.setUint32(8, length, false);
    else v.setUint16(6, length, false);
    return out;
  };
  const source = cat([
    head(0x00280100, "US", 2, false),
    new Uint8Array([0x00, 0x20]),
    head(0x7fe00010, "OW", 8, true),
    new Uint8Array([0x0e, 0xe8, 0x00, 0x13, 0x03, 0x04, 0x01, 0x02]),
  ]);
  const parsed = parseDataSet(source, encodingOf(TransferSyntax.ExplicitVRBigEndian)).dataset;
  const little = cat(bigToLittleEndian(source, parsed));
  const pixels = parseDataSet(little, encodingOf(TransferSyntax.ExplicitVRLittleEndian)).dataset.elements[1];
  const value = new DataView(little.buffer, pixels.valueOffset, pixels.length);
  assert.deepEqual([value.getUint32(0, true), value.getUint32(4, true)], [0x00130ee8, 0x01020304]);
});

Deno.test("implicitToExplicit writes private creators as LO and group lengths as UL, other private tags as UN", () => {
  const implicit = (tag: number, value: Uint8Array) => {
    const out = new Uint8Array(8 + value.length);
    const v = new DataView(out.buffer);
    v.setUint16(0, tag >>> 16, true);
    v.setUint16(2, tag & 0xffff, true);
    v.setUint32(4, value.length, true);
    out.set(value, 8);
    return out;
  };
  const source = cat([
    implicit(0x00080060, text("MR")),
    implicit(0x00090000, new Uint8Array([12, 0, 0, 0])),
    implicit(0x00090010, text("ACME 1.0")),
    implicit(0x00091001, new Uint8Array([1, 2, 3, 4])),
  ]);
  const parsed = parseDataSet(source, encodingOf(TransferSyntax.ImplicitVRLittleEndian)).dataset;
  const out = cat(implicitToExplicit(source, parsed, { pixelRepresentation: 0, bitsAllocated: 16 }));
  const back = parseDataSet(out, encodingOf(TransferSyntax.ExplicitVRLittleEndian)).dataset;
  assert.deepEqual(back.elements.map((el) => el.vr), ["CS", "UL", "LO", "UN"]);
  assert.deepEqual(values(out, back), values(source, parsed));
});
