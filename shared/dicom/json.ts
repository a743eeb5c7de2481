/**
 * The DICOM JSON model (PS3.18 F.2) from a "naturalized" data set: keyword -> value, as C-FIND
 * identifiers travel (strings, numbers, arrays for multiple values, `{ Alphabetic }` for person
 * names, arrays of objects for sequences). Empty values become attributes without `Value`.
 */
import { attributeByTag, tagByKeyword, tagHex } from "./dictionary.ts";

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

function personName(v: unknown): unknown {
  if (typeof v === "string") return { Alphabetic: v };
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

/** The first string value of an attribute, by keyword. */
export function jsonString(ds: DicomJson, keyword: string): string | undefined {
  const tag = tagByKeyword(keyword);
  if (tag === undefined) return undefined;
  const v = ds[tagHex(tag)]?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  return typeof v === "object" ? (v as { Alphabetic?: string }).Alphabetic : String(v);
}
