/**
 * The DICOM JSON model (PS3.18 F.2) from a "naturalized" data set: keyword -> value, as C-FIND
 * identifiers travel (strings, numbers, arrays for multiple values, `{ Alphabetic }` for person
 * names, arrays of objects for sequences). Empty values become attributes without `Value`.
 */
import { attributeByTag, tagByKeyword, tagHex } from "./dictionary.ts";
import type { DataSet, Element } from "./reader.ts";
import { numberValues, stringValue, stringValues, TextDecoding, valueBytes } from "./values.ts";
import { toBase64 } from "../base64.ts";

export interface DicomJsonAttribute {
  vr: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}
export type DicomJson = Record<string, DicomJsonAttribute>;

const NUMERIC_STRING = new Set(["IS", "DS"]);
const BINARY_NUMBER = new Set(["US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"]);

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === "" || (Array.isArray(v) && v.length === 0);
}

/**
 * A person name in the model's form. A C-FIND answer carries the whole value, groups and all, as its
 * `Alphabetic` ("Yamada^Tarou=山田^太郎=やまだ^たろう"): its `=` separates the groups (PS3.5 6.2), each
 * its own member here (PS3.18 F.2.2).
 */
function personName(v: unknown): unknown {
  if (typeof v === "string") return pnValue(v);
  const keys = v !== null && typeof v === "object" ? Object.keys(v) : [];
  const alphabetic = (v as { Alphabetic?: unknown } | null)?.Alphabetic;
  if (keys.length === 1 && typeof alphabetic === "string" && alphabetic.includes("=")) {
    return pnValue(alphabetic);
  }
  return v;
}

function jsonValues(vr: string, raw: unknown): unknown[] {
  const list = Array.isArray(raw) ? raw : typeof raw === "string" && vr !== "PN" ? raw.split("\\") : [raw];
  if (vr === "PN") return list.map(personName);
  if (vr === "SQ") return list.map((item) => toDicomJson(item as Record<string, unknown>));
  if (NUMERIC_STRING.has(vr) || BINARY_NUMBER.has(vr)) {
    return list.map((x) => (x === "" || x === null ? null : Number(x)));
  }
  return list.map((x) => (x === null || x === undefined ? null : String(x)));
}

/** The dictionary's VR as DICOM JSON writes it (its "ox"/"xs" placeholders become OW/US). */
function jsonVr(vr: string | undefined): string {
  if (!vr) return "UN";
  const first = vr.split(/ or |\|/)[0];
  if (/^[A-Z]{2}$/.test(first)) return first;
  return first === "xs" ? "US" : first === "ox" ? "OW" : "UN";
}

/** Converts keyword -> value pairs; unknown keywords are dropped (they have no tag to key by). */
export function toDicomJson(naturalized: Record<string, unknown>): DicomJson {
  const out: DicomJson = {};
  const entries: [number, string, unknown][] = [];
  for (const [keyword, value] of Object.entries(naturalized)) {
    const tag = /^[0-9A-Fa-f]{8}$/.test(keyword) ? parseInt(keyword, 16) : tagByKeyword(keyword);
    if (tag === undefined) continue;
    entries.push([tag, keyword, value]);
  }
  entries.sort((a, b) => a[0] - b[0]);
  for (const [tag, , value] of entries) {
    const vr = jsonVr(attributeByTag(tag)?.vr);
    out[tagHex(tag)] = isEmpty(value) ? { vr } : { vr, Value: jsonValues(vr, value) };
  }
  return out;
}

/** A value as DICOM writes it: a person name with all its groups (`Yamada^Tarou=山田^太郎=やまだ^たろう`). */
function valueText(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object") return String(v);
  const pn = v as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
  const groups = [pn.Alphabetic ?? "", pn.Ideographic ?? "", pn.Phonetic ?? ""];
  while (groups.length > 1 && groups[groups.length - 1] === "") groups.pop();
  return groups.join("=");
}

/** The first value of an attribute as text (a person name with all its groups), by keyword. */
export function jsonString(ds: DicomJson, keyword: string): string | undefined {
  const tag = tagByKeyword(keyword);
  return tag === undefined ? undefined : valueText(ds[tagHex(tag)]?.Value?.[0]);
}

/** All values of an attribute as text, joined with a backslash as DICOM writes them ("" when absent). */
export function jsonText(ds: DicomJson, keyword: string): string {
  const tag = tagByKeyword(keyword);
  const values = tag === undefined ? undefined : ds[tagHex(tag)]?.Value;
  return (values ?? []).map((v) => valueText(v) ?? "").join("\\");
}

/** What `datasetToJson` needs besides the bytes. */
export interface RawToJsonOptions {
  littleEndian: boolean;
  /**
   * The BulkDataURI for a bulk value (`path` is the tag path, e.g. `7FE00010` or `00409096/0/00409212`),
   * or undefined to inline it as base64. Called for OB, OW, OD, OF, OL, OV and UN values longer than
   * `inlineLimit`, and for encapsulated pixel data.
   */
  bulk?: (path: string, el: Element) => string | undefined;
  /** Bulk values up to this many bytes are inlined (default 256). */
  inlineLimit?: number;
}

const BULK_VRS = new Set(["OB", "OW", "OD", "OF", "OL", "OV", "UN"]);

function pnValue(text: string): Record<string, string> {
  const [alphabetic, ideographic, phonetic] = text.split("=");
  const out: Record<string, string> = {};
  if (alphabetic) out.Alphabetic = alphabetic;
  if (ideographic) out.Ideographic = ideographic;
  if (phonetic) out.Phonetic = phonetic;
  return out;
}

/**
 * The DICOM JSON model of a parsed data set (PS3.18 F.2): values decoded under its Specific
 * Character Set, sequences at any depth, bulk values as BulkDataURI (or InlineBinary), group
 * lengths left out.
 */
export function datasetToJson(
  bytes: Uint8Array,
  ds: DataSet,
  options: RawToJsonOptions,
  decoding?: TextDecoding,
  path = "",
): DicomJson {
  // An item may name its own Specific Character Set (PS3.5 7.5.3); otherwise it keeps its parent's.
  const charset = ds.elements.find((e) => e.tag === 0x00080005);
  if (charset || !decoding) decoding = new TextDecoding(charset ? stringValue(bytes, charset) : "");
  const limit = options.inlineLimit ?? 256;
  const out: DicomJson = {};
  for (const el of ds.elements) {
    if ((el.tag & 0xffff) === 0) continue; // group length
    const key = tagHex(el.tag);
    const here = path ? `${path}/${key}` : key;
    const vr = el.vr;
    if (vr === "SQ" || el.items) {
      out[key] = {
        vr: "SQ",
        ...(el.items?.length
          ? {
            Value: el.items.map((item, i) => datasetToJson(bytes, item, options, decoding, `${here}/${i}`)),
          }
          : {}),
      };
      continue;
    }
    if (el.fragments || BULK_VRS.has(vr)) {
      const uri = el.fragments || el.length > limit ? options.bulk?.(here, el) : undefined;
      if (uri) out[key] = { vr, BulkDataURI: uri };
      else if (el.length > 0) out[key] = { vr, InlineBinary: toBase64(valueBytes(bytes, el)) };
      else out[key] = { vr };
      continue;
    }
    if (el.length <= 0) {
      out[key] = { vr };
      continue;
    }
    if (vr === "AT") {
      const raw = valueBytes(bytes, el);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const values: string[] = [];
      for (let i = 0; i + 4 <= raw.length; i += 4) {
        const tag =
          (view.getUint16(i, options.littleEndian) << 16 | view.getUint16(i + 2, options.littleEndian)) >>> 0;
        values.push(tagHex(tag));
      }
      out[key] = { vr, Value: values };
      continue;
    }
    const numbers = numberValues(bytes, el, options.littleEndian);
    if (numbers.length) {
      out[key] = { vr, Value: numbers };
      continue;
    }
    const strings = stringValues(bytes, el, decoding);
    if (!strings.length) {
      out[key] = { vr };
      continue;
    }
    if (vr === "PN") out[key] = { vr, Value: strings.map(pnValue) };
    else if (vr === "IS" || vr === "DS") {
      out[key] = { vr, Value: strings.map((s) => (s === "" ? null : Number(s))) };
    } else out[key] = { vr, Value: strings.map((s) => (s === "" ? null : s)) };
  }
  return out;
}
