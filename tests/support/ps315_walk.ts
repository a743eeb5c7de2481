/**
 * An independent check of de-identified output against PS3.15 Table E.1-1 itself (the JSON copy of the
 * standard's table in agent/deid/ps3.15/table_e1_1.json), not against the profile the engine compiled
 * from it. For every attribute the table lists that is present in the input, at the top level or inside
 * sequences the output kept, the output must hold what the action allows: the Basic Profile column, or
 * a chosen option's column where it names one (PS3.15 E.3: an option's K or C wins over the basic action;
 * C over K when two options name the row). The combinations (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) allow any
 * of their parts. Private attributes kept under Retain Safe Private must be on the documented safe list.
 */
import { inflateRawSync } from "node:zlib";
import {
  type DataSet,
  type Element,
  encodingOf,
  parseDataSet,
  readPart10Header,
} from "@conduit/shared/dicom";
import table from "../../agent/deid/ps3.15/table_e1_1.json" with { type: "json" };
import safe from "../../agent/deid/ps3.15/safe_private.json" with { type: "json" };

type Row = (typeof table.rows)[number];

/** The option names (kebab case of the column titles) and their columns in the JSON table. */
const COLUMN: Record<string, keyof Row> = {
  "retain-safe-private": "retainSafePrivate",
  "retain-uids": "retainUIDs",
  "retain-device-identity": "retainDeviceIdentity",
  "retain-institution-identity": "retainInstitutionIdentity",
  "retain-patient-characteristics": "retainPatientCharacteristics",
  "retain-long-full-dates": "retainLongFullDates",
  "retain-long-modified-dates": "retainLongModifiedDates",
  "clean-descriptors": "cleanDescriptors",
  "clean-structured-content": "cleanStructuredContent",
  "clean-graphics": "cleanGraphics",
};

/** CID 7050 code of each option (PS3.16), for the method code sequence check. */
export const OPTION_CODE: Record<string, string> = {
  "retain-safe-private": "113111",
  "retain-uids": "113110",
  "retain-device-identity": "113109",
  "retain-institution-identity": "113112",
  "retain-patient-characteristics": "113108",
  "retain-long-full-dates": "113106",
  "retain-long-modified-dates": "113107",
  "clean-descriptors": "113105",
  "clean-structured-content": "113104",
  "clean-graphics": "113103",
};

const exact = new Map<number, Row>();
const patterns: { mask: number; value: number; row: Row }[] = [];
let privateRow: Row | undefined;
for (const row of table.rows) {
  if (row.tag.startsWith("(gggg")) {
    privateRow = row;
    continue;
  }
  const hex = row.tag.slice(1, 5) + row.tag.slice(6, 10);
  if (/x/i.test(hex)) {
    patterns.push({
      mask: Number.parseInt(hex.replace(/[0-9A-Fa-f]/g, "F").replace(/x/gi, "0"), 16) >>> 0,
      value: Number.parseInt(hex.replace(/x/gi, "0"), 16) >>> 0,
      row,
    });
  } else exact.set(Number.parseInt(hex, 16), row);
}
const safeKeys = new Set(safe.rows.map((r) => `${r.group}|${r.creator.toUpperCase()}|${r.element}`));

function rowFor(tag: number): Row | undefined {
  if ((tag >>> 16) % 2 === 1) return privateRow;
  return exact.get(tag) ??
    patterns.find((p) => ((tag & p.mask) >>> 0) === p.value && (tag >>> 16) % 2 === 0)?.row;
}

/** One parsed Part 10 file; a deflated data set is inflated (then `bytes` are the inflated data set). */
export function parsePart10(bytes: Uint8Array): { bytes: Uint8Array; dataset: DataSet; syntax: string } {
  const h = readPart10Header(bytes);
  const enc = encodingOf(h.transferSyntax);
  if (enc.deflated) {
    const body = new Uint8Array(inflateRawSync(bytes.subarray(h.datasetOffset)));
    return { bytes: body, dataset: parseDataSet(body, enc).dataset, syntax: h.transferSyntax };
  }
  return {
    bytes,
    dataset: parseDataSet(bytes, enc, { start: h.datasetOffset }).dataset,
    syntax: h.transferSyntax,
  };
}

const latin1 = (b: Uint8Array) => {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return s;
};
const valueOf = (bytes: Uint8Array, el: Element) =>
  el.length > 0
    ? latin1(bytes.subarray(el.valueOffset, el.valueOffset + el.length)).replace(/[\0 ]+$/, "")
    : "";
const TEXT = new Set(["LO", "SH", "ST", "LT", "UT", "UC", "PN", "AE"]);

/** The creator of a private element's block (a creator element: its own text); upper case unless `exact`. */
function creatorOf(bytes: Uint8Array, ds: DataSet, tag: number, exact = false): string {
  const group = tag >>> 16;
  const block = (tag & 0xffff) <= 0x00ff ? tag & 0xff : (tag & 0xffff) >>> 8;
  const el = ds.elements.find((e) => e.tag === ((group << 16) | block) >>> 0);
  const text = el ? valueOf(bytes, el).trim() : "";
  return exact ? text : text.toUpperCase();
}

/** A private attribute on the documented safe list (or a private creator element, kept with its block). */
function onSafeList(bytes: Uint8Array, ds: DataSet, tag: number): boolean {
  if ((tag & 0xffff) <= 0x00ff) return true;
  const group = (tag >>> 16).toString(16).toUpperCase().padStart(4, "0");
  const element = (tag & 0xff).toString(16).toUpperCase().padStart(2, "0");
  return safeKeys.has(`${group}|${creatorOf(bytes, ds, tag)}|${element}`);
}

/** A breach: where, which attribute, what the table asked and what the output held. */
export interface Breach {
  path: string;
  name: string;
  action: string;
  found: string;
}

/**
 * Elements a custom profile names, which the walk leaves to the caller's own checks: `tag`, and for a
 * private element (or a private creator) the text of its block's creator (trimmed).
 */
export type Exempt = (tag: number, creator: string | undefined) => boolean;

/**
 * Every listed attribute whose output breaks its action under the chosen options (none: basic); with
 * `exempt`, the elements it names are not checked (nor what they hold).
 */
export function walk(
  input: Uint8Array,
  output: Uint8Array,
  options: string[] = [],
  exempt?: Exempt,
): Breach[] {
  for (const o of options) if (!COLUMN[o]) throw new Error(`unknown option ${o}`);
  const actionOf = (row: Row) => {
    const chosen = options.map((o) => row[COLUMN[o]] as string).filter(Boolean);
    return chosen.includes("C") ? "C" : chosen.includes("K") ? "K" : row.basic;
  };
  const safePrivate = options.includes("retain-safe-private");
  const a = parsePart10(input);
  const b = parsePart10(output);
  const breaches: Breach[] = [];
  const visit = (inSet: DataSet, outSet: DataSet, where: string) => {
    for (const el of inSet.elements) {
      if (exempt?.(el.tag, (el.tag >>> 16) % 2 === 1 ? creatorOf(a.bytes, inSet, el.tag, true) : undefined)) {
        continue;
      }
      const row = rowFor(el.tag);
      const out = outSet.elements.find((e) => e.tag === el.tag);
      const hex = (el.tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
      const here = `${where}(${hex.slice(0, 4)},${hex.slice(4)})`;
      if (row) {
        const action = actionOf(row);
        const found = check(action, el, out, a.bytes, b.bytes, inSet, safePrivate);
        if (found) breaches.push({ path: here, name: row.name, action, found });
      }
      // Nested attributes are checked where the output kept the sequence and its items.
      if (el.items && out?.items && out.items.length === el.items.length) {
        el.items.forEach((item, i) => visit(item, out.items![i], `${here}[${i}]`));
      }
    }
  };
  visit(a.dataset, b.dataset, "");
  return breaches;
}

/** Undefined when `out` is what `action` allows for `el`; otherwise what was wrong. */
function check(
  action: string,
  el: Element,
  out: Element | undefined,
  ib: Uint8Array,
  ob: Uint8Array,
  inSet: DataSet,
  safePrivate: boolean,
): string | undefined {
  const before = el.items ? undefined : valueOf(ib, el);
  const after = out && !out.items ? valueOf(ob, out) : undefined;
  const removed = out === undefined;
  const emptied = out !== undefined && (out.items ? out.items.length === 0 : out.length === 0);
  const changed = after !== undefined && (before === "" || after !== before);
  const parts = action.split("/");
  const ok = (code: string): boolean => {
    switch (code) {
      case "X":
        if ((el.tag >>> 16) % 2 === 1 && safePrivate && !removed) {
          return onSafeList(ib, inSet, el.tag);
        }
        return removed;
      case "Z":
        return emptied || (!removed && changed);
      case "D":
        return !removed && (out!.items !== undefined || (out!.length > 0 && changed));
      case "U":
      case "U*":
        if (removed) return false;
        if (out!.items) return true; // a sequence of references: its UIDs are checked where listed
        return (after ?? "").split("\\").every((u, i) =>
          /^2\.25\.\d+$/.test(u) && u !== (before ?? "").split("\\")[i]
        );
      case "K":
        return !removed && (out!.items !== undefined || after === before);
      case "C":
        if ((el.tag >>> 16) % 2 === 1) {
          return removed || onSafeList(ib, inSet, el.tag);
        }
        if (removed) return false;
        if (out!.items || before === "") return true;
        if (el.vr === "DA" || el.vr === "DT") return after !== before;
        if (TEXT.has(el.vr)) return after !== before;
        return true;
      default:
        throw new Error(`unknown action ${code}`);
    }
  };
  if (parts.some(ok)) return undefined;
  return `input ${JSON.stringify(before ?? `${el.items?.length} items`)}, output ${
    removed ? "absent" : JSON.stringify(after ?? `${out!.items?.length} items`)
  }`;
}
