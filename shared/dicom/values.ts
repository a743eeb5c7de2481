/**
 * Decoding element values: strings under the data set's Specific Character Set, numbers in either
 * byte order. Only what indexing, matching and JSON need; untouched values stay bytes elsewhere.
 */
import { Iso2022Decoder } from "./charset.ts";
import type { Element } from "./reader.ts";

/** Trims DICOM padding (trailing spaces and NULs; leading spaces too for most string VRs). */
export function trimValue(text: string): string {
  return text.replace(/[\0 ]+$/, "").replace(/^ +/, "");
}

/** Character sets that take no code extensions (PS3.3 C.12.1.1.2), by their WHATWG decoder. */
const WHOLE_DECODERS: Record<string, string> = {
  "ISO_IR 192": "utf-8",
  "GB18030": "gb18030",
  "GBK": "gbk",
};

/**
 * A defined term of Specific Character Set as the standard spells it, from the misspellings writers send
 * (`ISO-IR 100`, `ISO IR 126`, `ISO_IR144`, `iso_ir 192`, `ISO-2022-IR-87`), as pydicom corrects them; any
 * other value is returned trimmed.
 */
export function specificCharacterSetTerm(term: string): string {
  const t = term.trim();
  const extended = /^ISO[\s_-]*2022[\s_-]*IR[\s_-]*(\d+)$/i.exec(t);
  if (extended) return `ISO 2022 IR ${extended[1]}`;
  const plain = /^ISO[\s_-]*IR[\s_-]*(\d+)$/i.exec(t);
  if (plain) return `ISO_IR ${plain[1]}`;
  return /^(GB18030|GBK)$/i.test(t) ? t.toUpperCase() : t;
}

/**
 * A decoder for a data set's Specific Character Set value (as stored, backslash-separated). UTF-8,
 * GB18030 and GBK decode a whole value; every other set is read as ISO 2022 (charset.ts), its
 * initial state from value 1 and escape sequences switching sets within a value. Misspelled terms are
 * read as the set they name (specificCharacterSetTerm).
 */
export class TextDecoding {
  readonly #whole: TextDecoder | undefined;
  readonly #iso2022: Iso2022Decoder;
  constructor(specificCharacterSet = "") {
    const terms = specificCharacterSet.split("\\").map(specificCharacterSetTerm);
    const whole = WHOLE_DECODERS[terms[0]];
    this.#whole = whole ? new TextDecoder(whole) : undefined;
    this.#iso2022 = new Iso2022Decoder(terms);
  }
  /** Decodes one element's value; the VR says which delimiters reset the code extensions. */
  decode(bytes: Uint8Array, vr = "LO"): string {
    return this.#whole ? this.#whole.decode(bytes) : this.#iso2022.decode(bytes, vr);
  }
}

/** VRs whose values are text affected by the character set. */
const TEXT_VRS = new Set(["SH", "LO", "ST", "LT", "UT", "PN", "UC"]);

/** Reads an element's value bytes. */
export function valueBytes(bytes: Uint8Array, el: Element): Uint8Array {
  if (el.length < 0) return new Uint8Array(0);
  return bytes.subarray(el.valueOffset, el.valueOffset + el.length);
}

/** Decodes a string element to one trimmed string (multiple values keep their backslashes). */
export function stringValue(bytes: Uint8Array, el: Element, decoding?: TextDecoding): string {
  const raw = valueBytes(bytes, el);
  let text: string;
  if (TEXT_VRS.has(el.vr) && decoding) text = decoding.decode(raw, el.vr);
  else {
    text = "";
    for (let i = 0; i < raw.length; i++) text += String.fromCharCode(raw[i]);
  }
  if (el.vr === "UI") return text.replace(/[\0 ]+$/, "").trim();
  if (el.vr === "LT" || el.vr === "ST" || el.vr === "UT") return text.replace(/[\0 ]+$/, "");
  return trimValue(text);
}

/** Splits a multi-valued string and trims each value. */
export function stringValues(bytes: Uint8Array, el: Element, decoding?: TextDecoding): string[] {
  const text = stringValue(bytes, el, decoding);
  if (text === "") return [];
  if (el.vr === "LT" || el.vr === "ST" || el.vr === "UT") return [text];
  return text.split("\\").map((v) => trimValue(v));
}

/** Decodes binary numeric VRs (US, SS, UL, SL, FL, FD, SV, UV, AT) to numbers. */
export function numberValues(bytes: Uint8Array, el: Element, littleEndian: boolean): number[] {
  const raw = valueBytes(bytes, el);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: number[] = [];
  const step: Record<string, number> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, SV: 8, UV: 8, AT: 4 };
  const size = step[el.vr];
  if (!size) return out;
  for (let i = 0; i + size <= raw.length; i += size) {
    switch (el.vr) {
      case "US":
        out.push(view.getUint16(i, littleEndian));
        break;
      case "SS":
        out.push(view.getInt16(i, littleEndian));
        break;
      case "UL":
        out.push(view.getUint32(i, littleEndian));
        break;
      case "SL":
        out.push(view.getInt32(i, littleEndian));
        break;
      case "FL":
        out.push(view.getFloat32(i, littleEndian));
        break;
      case "FD":
        out.push(view.getFloat64(i, littleEndian));
        break;
      case "SV":
        out.push(Number(view.getBigInt64(i, littleEndian)));
        break;
      case "UV":
        out.push(Number(view.getBigUint64(i, littleEndian)));
        break;
      case "AT":
        out.push(((view.getUint16(i, littleEndian) << 16) | view.getUint16(i + 2, littleEndian)) >>> 0);
        break;
    }
  }
  return out;
}
