/**
 * Decoding element values: strings under the data set's Specific Character Set, numbers in either
 * byte order. Only what indexing, matching and JSON need; untouched values stay bytes elsewhere.
 */
import type { Element } from "./reader.ts";

/** Trims DICOM padding (trailing spaces and NULs; leading spaces too for most string VRs). */
export function trimValue(text: string): string {
  return text.replace(/[\0 ]+$/, "").replace(/^ +/, "");
}

const CHARSET_LABELS: Record<string, string> = {
  "": "latin1",
  "ISO_IR 6": "latin1",
  "ISO 2022 IR 6": "latin1",
  "ISO_IR 100": "latin1",
  "ISO 2022 IR 100": "latin1",
  "ISO_IR 101": "iso-8859-2",
  "ISO 2022 IR 101": "iso-8859-2",
  "ISO_IR 109": "iso-8859-3",
  "ISO 2022 IR 109": "iso-8859-3",
  "ISO_IR 110": "iso-8859-4",
  "ISO 2022 IR 110": "iso-8859-4",
  "ISO_IR 144": "iso-8859-5",
  "ISO 2022 IR 144": "iso-8859-5",
  "ISO_IR 127": "iso-8859-6",
  "ISO 2022 IR 127": "iso-8859-6",
  "ISO_IR 126": "iso-8859-7",
  "ISO 2022 IR 126": "iso-8859-7",
  "ISO_IR 138": "iso-8859-8",
  "ISO 2022 IR 138": "iso-8859-8",
  "ISO_IR 148": "windows-1254",
  "ISO 2022 IR 148": "windows-1254",
  "ISO_IR 203": "iso-8859-15",
  "ISO 2022 IR 203": "iso-8859-15",
  "ISO_IR 13": "shift_jis",
  "ISO 2022 IR 13": "shift_jis",
  "ISO_IR 166": "windows-874",
  "ISO 2022 IR 166": "windows-874",
  "ISO 2022 IR 87": "iso-2022-jp",
  "ISO 2022 IR 159": "iso-2022-jp",
  "ISO 2022 IR 149": "euc-kr",
  "ISO 2022 IR 58": "gb18030",
  "ISO_IR 192": "utf-8",
  "GB18030": "gb18030",
  "GBK": "gbk",
};

/** A decoder for a data set's Specific Character Set value (as stored, backslash-separated). */
export class TextDecoding {
  readonly #decoder: TextDecoder;
  readonly label: string;
  constructor(specificCharacterSet = "") {
    const terms = specificCharacterSet.split("\\").map((t) => t.trim()).filter(Boolean);
    // With code extensions, the last named set is the one non-ASCII text most likely uses.
    const pick = terms.length > 1 ? terms[terms.length - 1] : (terms[0] ?? "");
    this.label = CHARSET_LABELS[pick] ?? "latin1";
    this.#decoder = new TextDecoder(this.label === "latin1" ? "windows-1252" : this.label);
  }
  decode(bytes: Uint8Array): string {
    if (this.label === "latin1") {
      let s = "";
      for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]);
      return s;
    }
    return this.#decoder.decode(bytes);
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
  if (TEXT_VRS.has(el.vr) && decoding) text = decoding.decode(raw);
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
