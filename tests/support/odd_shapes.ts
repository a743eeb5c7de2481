/**
 * Data sets of odd but legal (or tolerated) shapes, written byte by byte so that a test can send them over
 * DIMSE as they are and compare every copy with them: group length elements, undefined-length sequences and
 * items, private attributes in Implicit VR (with a private sequence of undefined length), odd-length values,
 * UN of undefined length (PS3.5 6.2.2), trailing padding (FFFC,FFFC), a zero-length Pixel Data, a private
 * sequence of about 2 MB, and encapsulated pixel data with and without a Basic Offset Table, frames split
 * into fragments of odd sizes. Secondary Capture objects with fresh 2.25 UIDs; nothing is committed.
 */

const LONG_VRS = new Set(["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]);
const UNDEFINED = 0xffffffff;
const ascii = new TextEncoder();

/** One odd-shaped object: the data set bytes in `transferSyntax`, its UIDs and what is odd about it. */
export interface OddShape {
  name: string;
  transferSyntax: string;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  dataset: Uint8Array;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** An element header and value, little endian; `vr` undefined writes Implicit VR. */
function el(tag: number, vr: string | undefined, value: Uint8Array, length = value.length): Uint8Array {
  const long = vr === undefined || LONG_VRS.has(vr);
  const head = new Uint8Array(vr === undefined ? 8 : long ? 12 : 8);
  const v = new DataView(head.buffer);
  v.setUint16(0, tag >>> 16, true);
  v.setUint16(2, tag & 0xffff, true);
  if (vr === undefined) v.setUint32(4, length, true);
  else {
    head.set(ascii.encode(vr), 4);
    if (long) v.setUint32(8, length, true);
    else v.setUint16(6, length, true);
  }
  return concat([head, value]);
}

/** Text padded to even length with `pad` (a space, or NUL for UIDs), unless `odd` keeps it as given. */
function text(s: string, pad = " ", odd = false): Uint8Array {
  return ascii.encode(s.length % 2 && !odd ? s + pad : s);
}

function ul(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

function us(n: number): Uint8Array {
  return new Uint8Array([n & 0xff, n >> 8]);
}

const item = (body: Uint8Array) => el(0xfffee000, undefined, body);
const undefinedItem = (body: Uint8Array) =>
  concat([
    el(0xfffee000, undefined, new Uint8Array(), UNDEFINED),
    body,
    el(0xfffee00d, undefined, new Uint8Array()),
  ]);
const seqEnd = () => el(0xfffee0dd, undefined, new Uint8Array());
const undefinedSeq = (tag: number, vr: string | undefined, items: Uint8Array[]) =>
  concat([el(tag, vr, new Uint8Array(), UNDEFINED), ...items, seqEnd()]);

function freshUid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return `2.25.${BigInt("0x" + [...b].map((x) => x.toString(16).padStart(2, "0")).join(""))}`;
}

const SC = "1.2.840.10008.5.1.4.1.1.7";
const EXPLICIT = "1.2.840.10008.1.2.1";
const IMPLICIT = "1.2.840.10008.1.2";
const RLE = "1.2.840.10008.1.2.5";

/** The identifying head of each object (SOP, study, series, patient, modality), in tag order per group. */
function head(
  u: Omit<OddShape, "name" | "transferSyntax" | "dataset">,
  implicit: boolean,
  groupLengths = false,
) {
  const vr = (v: string) => implicit ? undefined : v;
  const uid = (tag: number, s: string) => el(tag, vr("UI"), text(s, "\0"));
  const g8 = concat([
    uid(0x00080016, u.sopClassUid),
    uid(0x00080018, u.sopInstanceUid),
    el(0x00080060, vr("CS"), text("OT")),
  ]);
  const g10 = concat([el(0x00100010, vr("PN"), text("Odd^Shape")), el(0x00100020, vr("LO"), text("ODD-1"))]);
  const g20 = concat([uid(0x0020000d, u.studyInstanceUid), uid(0x0020000e, u.seriesInstanceUid)]);
  if (!groupLengths) return { g8, g10, g20 };
  const withLength = (group: number, body: Uint8Array) =>
    concat([el(group << 16, vr("UL"), ul(body.length)), body]);
  return { g8: withLength(0x0008, g8), g10: withLength(0x0010, g10), g20: withLength(0x0020, g20) };
}

/** Image Pixel module attributes for `frames` frames of 8-bit monochrome `side` × `side`. */
function pixelModule(implicit: boolean, frames: number, side = 4): Uint8Array {
  const vr = (v: string) => implicit ? undefined : v;
  return concat([
    el(0x00280002, vr("US"), us(1)),
    el(0x00280004, vr("CS"), text("MONOCHROME2")),
    ...(frames > 1 ? [el(0x00280008, vr("IS"), text(String(frames)))] : []),
    el(0x00280010, vr("US"), us(side)),
    el(0x00280011, vr("US"), us(side)),
    el(0x00280100, vr("US"), us(8)),
    el(0x00280101, vr("US"), us(8)),
    el(0x00280102, vr("US"), us(7)),
    el(0x00280103, vr("US"), us(0)),
  ]);
}

/** Encapsulated Pixel Data: a Basic Offset Table (given offsets, or empty) and the fragments. */
function encapsulated(fragments: Uint8Array[], offsets?: number[]): Uint8Array {
  return concat([
    el(0x7fe00010, "OB", new Uint8Array(), UNDEFINED),
    item(concat((offsets ?? []).map(ul))),
    ...fragments.map(item),
    seqEnd(),
  ]);
}

function bytes(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

/** Every odd shape, with fresh UIDs (one study per call). */
export function oddShapes(): OddShape[] {
  const studyInstanceUid = freshUid();
  const make = (
    name: string,
    transferSyntax: string,
    body: (h: ReturnType<typeof head>, implicit: boolean) => Uint8Array[],
    groupLengths = false,
  ): OddShape => {
    const u = {
      sopClassUid: SC,
      sopInstanceUid: freshUid(),
      studyInstanceUid,
      seriesInstanceUid: freshUid(),
    };
    const implicit = transferSyntax === IMPLICIT;
    return { name, transferSyntax, ...u, dataset: concat(body(head(u, implicit, groupLengths), implicit)) };
  };
  const creator = (implicit: boolean) => el(0x00090010, implicit ? undefined : "LO", text("ODD SHAPES 1.0"));
  const plain = (pixels: Uint8Array, implicit = false) => el(0x7fe00010, implicit ? undefined : "OW", pixels);
  return [
    make(
      "group-lengths",
      EXPLICIT,
      (h) => [h.g8, h.g10, h.g20, pixelModule(false, 1), plain(bytes(16, 1))],
      true,
    ),
    make("undefined-length-sequences", EXPLICIT, (h) => [
      h.g8,
      undefinedSeq(0x00081115, "SQ", [
        undefinedItem(concat([
          el(0x0020000e, "UI", text("1.2.3.4", "\0")),
          undefinedSeq(0x00081140, "SQ", [
            undefinedItem(el(0x00081155, "UI", text("1.2.3.4.5", "\0"))),
            item(el(0x00081155, "UI", text("1.2.3.4.6", "\0"))),
          ]),
          undefinedSeq(0x00081199, "SQ", []),
        ])),
        item(new Uint8Array()),
      ]),
      h.g10,
      h.g20,
      pixelModule(false, 1),
      plain(bytes(16, 2)),
    ]),
    make("private-implicit", IMPLICIT, (h, implicit) => [
      h.g8,
      creator(implicit),
      el(0x00091001, undefined, text("private text")),
      el(0x00091002, undefined, bytes(6, 3)),
      undefinedSeq(0x00091003, undefined, [
        undefinedItem(
          concat([el(0x00100020, undefined, text("INNER")), el(0x00091001, undefined, bytes(4, 4))]),
        ),
      ]),
      h.g10,
      h.g20,
      pixelModule(true, 1),
      plain(bytes(16, 5), true),
    ]),
    make("odd-lengths", EXPLICIT, (h) => [
      h.g8,
      el(0x00081030, "LO", text("ODD", " ", true)),
      creator(false),
      el(0x00091001, "OB", bytes(3, 6)),
      el(0x00091002, "UN", bytes(5, 7)),
      el(0x00091003, "OB", bytes(1, 7)), // the data set's length even: DCMTK aborts on an odd PDV
      h.g10,
      h.g20,
      pixelModule(false, 1),
      plain(bytes(16, 8)),
    ]),
    make("un-undefined-length", EXPLICIT, (h) => [
      h.g8,
      creator(false),
      undefinedSeq(0x00091010, "UN", [
        undefinedItem(
          concat([el(0x00080100, undefined, text("CODE1")), el(0x00080102, undefined, text("99ODD"))]),
        ),
        item(el(0x00080104, undefined, text("meaning"))),
      ]),
      h.g10,
      h.g20,
      pixelModule(false, 1),
      plain(bytes(16, 9)),
    ]),
    make("trailing-padding", EXPLICIT, (h) => [
      h.g8,
      h.g10,
      h.g20,
      pixelModule(false, 1),
      plain(bytes(16, 10)),
      el(0xfffcfffc, "OB", new Uint8Array(256)),
    ]),
    make(
      "empty-pixel-data",
      EXPLICIT,
      (h) => [h.g8, h.g10, h.g20, pixelModule(false, 1), plain(new Uint8Array())],
    ),
    make("huge-private-sequence", EXPLICIT, (h) => [
      h.g8,
      creator(false),
      undefinedSeq(
        0x00091020,
        "SQ",
        Array.from({ length: 2000 }, (_, i) =>
          (i % 2 ? item : undefinedItem)(concat([
            creator(false),
            el(0x00091001, "OB", bytes(1024, i)),
          ]))),
      ),
      h.g10,
      h.g20,
      pixelModule(false, 1),
      plain(bytes(16, 11)),
    ]),
    make("encapsulated-no-offset-table", RLE, (h) => [
      h.g8,
      h.g10,
      h.g20,
      pixelModule(false, 2),
      encapsulated([bytes(2, 12), bytes(1000, 13), bytes(6, 14), bytes(64, 15)]),
    ]),
    make("encapsulated-offset-table", RLE, (h) => [
      h.g8,
      h.g10,
      h.g20,
      pixelModule(false, 2),
      // frame 1: one fragment of 20 (+8 item header); frame 2: fragments of 2 and 300
      encapsulated([bytes(20, 16), bytes(2, 17), bytes(300, 18)], [0, 28]),
    ]),
  ];
}
