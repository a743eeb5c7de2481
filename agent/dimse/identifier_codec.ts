/**
 * Query identifiers (C-FIND matches, C-FIND/C-MOVE/C-GET requests) encoded directly, as command_codec.ts
 * does for command sets: dcmjs's general writer cost about 0.1-0.15 ms per data set (buffers of 256 KiB,
 * its own dictionary walk), most of what a C-FIND match costs the SCP. Only the plain cases: little endian
 * (implicit or explicit VR), keywords of the standard dictionary with one VR, ASCII text, numbers for
 * integer VRs, Person Names with an alphabetic group only, no sequences. Anything else is left to the
 * library (undefined here), so its bytes stay what they were; a test compares the two over such
 * identifiers.
 */
import {
  attributeByTag,
  encodingOf,
  findElement,
  parseDataSet,
  stringValue,
  stringValues,
  tagByKeyword,
  TextDecoding,
  TransferSyntax,
} from "@conduit/shared/dicom";

/** VRs whose value is text, and which pad with NUL (UI) instead of a space. */
const TEXT = new Set([
  "AE",
  "AS",
  "CS",
  "DA",
  "DT",
  "IS",
  "LO",
  "LT",
  "SH",
  "ST",
  "TM",
  "UI",
  "UT",
  "UC",
  "UR",
  "PN",
]);
/** VRs with a 32-bit length in explicit VR (PS3.5 7.1.2) among those we write. */
const LONG = new Set(["UT", "UC", "UR"]);
const INTEGER: Record<string, [bytes: number, signed: boolean]> = {
  US: [2, false],
  SS: [2, true],
  UL: [4, false],
  SL: [4, true],
};

/** Keywords the library keeps beside the values of a naturalized data set. */
const SKIPPED = new Set(["_vrMap"]);

/** The encoded identifier, or undefined when it holds something only the library writes. */
export function encodeIdentifier(
  elements: Record<string, unknown>,
  transferSyntax: string,
): Uint8Array | undefined {
  const explicit = transferSyntax === TransferSyntax.ExplicitVRLittleEndian;
  if (!explicit && transferSyntax !== TransferSyntax.ImplicitVRLittleEndian) return undefined;
  const parts: { tag: number; vr: string; value: Uint8Array }[] = [];
  for (const [keyword, raw] of Object.entries(elements)) {
    if (SKIPPED.has(keyword)) continue;
    const tag = tagByKeyword(keyword);
    if (tag === undefined || tag >>> 16 === 0x0002 || (tag >>> 16) % 2 === 1) return undefined;
    // One VR in the dictionary (not "US or SS"): the library might pick another.
    const vr = attributeByTag(tag)?.vr ?? "";
    if (!/^[A-Z]{2}$/.test(vr)) return undefined;
    const value = TEXT.has(vr) ? textValue(vr, raw) : INTEGER[vr] ? integerValue(vr, raw) : undefined;
    if (!value) return undefined;
    parts.push({ tag, vr, value });
  }
  parts.sort((a, b) => a.tag - b.tag);
  let size = 0;
  for (const p of parts) size += (explicit && LONG.has(p.vr) ? 12 : 8) + p.value.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const { tag, vr, value } of parts) {
    view.setUint16(at, tag >>> 16, true);
    view.setUint16(at + 2, tag & 0xffff, true);
    if (!explicit) {
      view.setUint32(at + 4, value.length, true);
      at += 8;
    } else if (LONG.has(vr)) {
      out[at + 4] = vr.charCodeAt(0);
      out[at + 5] = vr.charCodeAt(1);
      view.setUint32(at + 8, value.length, true);
      at += 12;
    } else {
      if (value.length > 0xffff) return undefined;
      out[at + 4] = vr.charCodeAt(0);
      out[at + 5] = vr.charCodeAt(1);
      view.setUint16(at + 6, value.length, true);
      at += 8;
    }
    out.set(value, at);
    at += value.length;
  }
  return out;
}

/** A text value padded to even length, or undefined when it is not plain ASCII text. */
function textValue(vr: string, raw: unknown): Uint8Array | undefined {
  const values = Array.isArray(raw) ? raw : [raw];
  const texts: string[] = [];
  for (const v of values) {
    if (typeof v === "string") texts.push(v);
    else if (typeof v === "number" && vr === "IS" && Number.isInteger(v)) texts.push(String(v));
    else if (vr === "PN" && isAlphabeticOnly(v)) texts.push((v as { Alphabetic: string }).Alphabetic);
    else return undefined;
  }
  const text = texts.join("\\");
  const length = text.length + (text.length % 2);
  const out = new Uint8Array(length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7e || (c < 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x0c && c !== 0x1b && c !== 0x09)) {
      return undefined;
    }
    out[i] = c;
  }
  if (length > text.length) out[text.length] = vr === "UI" ? 0 : 0x20;
  return out;
}

function isAlphabeticOnly(v: unknown): boolean {
  if (typeof v !== "object" || v === null) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === "Alphabetic" &&
    typeof (v as { Alphabetic: unknown }).Alphabetic === "string";
}

function integerValue(vr: string, raw: unknown): Uint8Array | undefined {
  const [width, signed] = INTEGER[vr];
  const values = Array.isArray(raw) ? raw : raw === "" ? [] : [raw];
  const out = new Uint8Array(values.length * width);
  const view = new DataView(out.buffer);
  for (const [i, v] of values.entries()) {
    if (typeof v !== "number" || !Number.isInteger(v)) return undefined;
    const min = signed ? -(2 ** (8 * width - 1)) : 0;
    const max = signed ? 2 ** (8 * width - 1) - 1 : 2 ** (8 * width) - 1;
    if (v < min || v > max) return undefined;
    if (width === 2) signed ? view.setInt16(2 * i, v, true) : view.setUint16(2 * i, v, true);
    else signed ? view.setInt32(4 * i, v, true) : view.setUint32(4 * i, v, true);
  }
  return out;
}

const latin1 = new TextDecoder("latin1");

/** Set (not enumerable) on a decoded identifier whose bytes do not parse: why. */
const MALFORMED = Symbol("malformed identifier");

/** Why a decoded identifier's bytes do not parse (restoreIdentifierValues), or undefined. */
export function malformedIdentifier(elements: object): string | undefined {
  return (elements as Record<symbol, string | undefined>)[MALFORMED];
}

/** VRs whose values dcmjs reads as numbers (or tags), an empty one as 0. */
const BINARY = new Set(["US", "SS", "UL", "SL", "FL", "FD", "AT", "UV", "SV"]);

/** VRs whose value is text under the Specific Character Set (PS3.5 6.1.2.3). */
const CHARSET_TEXT = new Set(["SH", "LO", "ST", "LT", "UT", "UC", "PN"]);

/**
 * Puts back values of a decoded identifier that the library changed as it read them, from the bytes sent:
 *
 * - UIDs. dcmjs drops every character of a UI value that is not a digit or a dot, so `1.2*` arrived as
 *   `1.2` and `1.2.abc` as `1.2.`: a C-MOVE or C-GET with a wildcard in its unique key retrieved another
 *   UID's objects (or none, with Success) instead of being refused (PS3.4 C.4.2.2.1), and C-FIND matched a
 *   UID nobody asked for.
 * - Text beyond ASCII. dcmjs decodes under value 1 of Specific Character Set alone and leaves escape
 *   sequences in the text, so a Japanese name (`\ISO 2022 IR 87`) or a Korean one (`\ISO 2022 IR 149`)
 *   matched nothing. Such values are decoded as the index decodes stored objects (shared/dicom TextDecoding:
 *   every value, code extensions, ISO 8859-1 for high bytes without a character set).
 * - Empty values of binary VRs. dcmjs reads an empty US (Rows, Columns, BitsAllocated...) as 0, so a key
 *   asked to be returned (universal matching, PS3.4 C.2.2.2.3) matched only a stored 0: an IMAGE-level
 *   C-FIND asking for Rows found nothing. An empty element becomes an empty list, as dcmjs gives an empty
 *   text element.
 * - Integer and decimal strings that are no numbers. dcmjs reads `abc` as null (universal matching: every
 *   series matched `SeriesNumber=abc`) and `5*` as 5; such a value is kept as sent, and the query refuses
 *   it (matching.ts).
 *
 * Only top-level elements are rewritten; bytes that do not parse are left to the library.
 */
export function restoreIdentifierValues(
  elements: Record<string, unknown>,
  bytes: Uint8Array,
  transferSyntax: string,
): void {
  if (!elements || typeof elements !== "object") return;
  let dataset;
  try {
    dataset =
      parseDataSet(bytes, encodingOf(transferSyntax ?? TransferSyntax.ImplicitVRLittleEndian)).dataset;
  } catch (err) {
    // Bytes that do not parse (an element longer than what is left, a sequence never closed): marked, so
    // that a request is refused (0xC000) instead of being matched on what the library made of them (it
    // answered Success, with no match or every one).
    Object.defineProperty(elements, MALFORMED, { value: (err as Error).message, enumerable: false });
    return;
  }
  let decoding: TextDecoding | undefined;
  for (const el of dataset.elements) {
    const vr = el.vr === "UN" || !el.vr ? attributeByTag(el.tag)?.vr : el.vr;
    if (el.length === 0 && vr && BINARY.has(vr)) {
      const keyword = attributeByTag(el.tag)?.keyword;
      if (keyword && keyword in elements) elements[keyword] = [];
      continue;
    }
    if (el.length > 0 && (vr === "IS" || vr === "DS")) {
      const keyword = attributeByTag(el.tag)?.keyword;
      if (!keyword || !(keyword in elements)) continue;
      const text = latin1.decode(bytes.subarray(el.valueOffset, el.valueOffset + el.length)).trim();
      const values = text.split("\\").map((v) => v.trim());
      if (values.every((v) => v === "" || Number.isFinite(Number(v)))) continue; // numbers: read right
      elements[keyword] = values.length === 1 ? values[0] : values;
      continue;
    }
    if (el.length <= 0 || !vr || (vr !== "UI" && !CHARSET_TEXT.has(vr))) continue;
    const value = bytes.subarray(el.valueOffset, el.valueOffset + el.length);
    const keyword = attributeByTag(el.tag)?.keyword;
    if (!keyword || !(keyword in elements)) continue;
    if (vr === "UI") {
      const text = latin1.decode(value).replace(/[\0 ]+$/, "").trim();
      if (/^[0-9.\\]*$/.test(text)) continue; // nothing the library dropped
      const values = text.split("\\").map((v) => v.trim());
      elements[keyword] = values.length === 1 ? values[0] : values;
      continue;
    }
    if (value.every((b) => b < 0x80 && b !== ESC)) continue; // ASCII: the library read it right
    if (!decoding) {
      const charset = findElement(dataset, SPECIFIC_CHARACTER_SET);
      decoding = new TextDecoding(charset ? stringValue(bytes, charset) : "");
    }
    const values = stringValues(bytes, { ...el, vr }, decoding);
    if (vr === "PN") elements[keyword] = values.map(personNameGroups);
    else elements[keyword] = values.length === 1 ? values[0] : values;
  }
}

const ESC = 0x1b;
const SPECIFIC_CHARACTER_SET = 0x00080005;

/** A name as the library naturalizes it: the component groups present, by name. */
function personNameGroups(name: string): Record<string, string> {
  const [alphabetic, ideographic, phonetic] = name.split("=");
  const out: Record<string, string> = {};
  if (alphabetic) out.Alphabetic = alphabetic;
  if (ideographic) out.Ideographic = ideographic;
  if (phonetic) out.Phonetic = phonetic;
  return out;
}

/**
 * The elements to write, with Specific Character Set `ISO_IR 192` first when a text value (a name's
 * groups and sequence items included) goes beyond ASCII and none is named: the library writes every
 * string as UTF-8 and declares nothing, so a key such as `Διον*` reached a node as undeclared bytes,
 * which it reads in the default repertoire (PS3.5 6.1.2.5.3) or as ISO 8859-1, and matched nothing.
 */
export function withCharsetDeclared(elements: Record<string, unknown>): Record<string, unknown> {
  if (!elements || typeof elements !== "object" || "SpecificCharacterSet" in elements) return elements;
  if (!beyondAscii(elements)) return elements;
  return { SpecificCharacterSet: "ISO_IR 192", ...elements };
}

function beyondAscii(value: unknown): boolean {
  if (typeof value === "string") {
    for (let i = 0; i < value.length; i++) if (value.charCodeAt(i) > 0x7f) return true;
    return false;
  }
  if (Array.isArray(value)) return value.some(beyondAscii);
  if (value && typeof value === "object") {
    return Object.entries(value).some(([k, v]) => k !== "_vrMap" && beyondAscii(v));
  }
  return false;
}
