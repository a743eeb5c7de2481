/**
 * An independent check of a de-identified object against PS3.15 Table E.1-1: reads the table's JSON
 * itself (not the generated profile) and walks the input, top level and inside sequences; every listed
 * attribute present in the input must end in the output as its action (the option's column where the
 * option is chosen and names one, else the basic column) requires. Returns the problems found.
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

/** Parses a whole Part 10 file (inflating a deflated data set). */
export function parseWhole(bytes: Uint8Array): { bytes: Uint8Array; ds: DataSet; syntax: string } {
  const h = readPart10Header(bytes);
  const enc = encodingOf(h.transferSyntax);
  if (enc.deflated) {
    const body = new Uint8Array(inflateRawSync(bytes.subarray(h.datasetOffset)));
    return { bytes: body, ds: parseDataSet(body, enc).dataset, syntax: h.transferSyntax };
  }
  return {
    bytes,
    ds: parseDataSet(bytes, enc, { start: h.datasetOffset }).dataset,
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

function creatorOf(bytes: Uint8Array, ds: DataSet, tag: number): string {
  const group = tag >>> 16;
  const block = (tag & 0xffff) >>> 8;
  const el = ds.elements.find((e) => e.tag === ((group << 16) | block) >>> 0);
  return el ? valueOf(bytes, el).trim().toUpperCase() : "";
}

/** Checks one output against the table for the chosen option (or none: the basic profile). */
export function walk(input: Uint8Array, output: Uint8Array, option?: string): string[] {
  const a = parseWhole(input);
  const b = parseWhole(output);
  const problems: string[] = [];
  const column = option ? COLUMN[option] : undefined;
  if (option && !column) throw new Error(`unknown option ${option}`);

  const visit = (inSet: DataSet, outSet: DataSet, where: string) => {
    for (const el of inSet.elements) {
      const row = rowFor(el.tag);
      const out = outSet.elements.find((e) => e.tag === el.tag);
      const name = `${where}(${el.tag.toString(16).padStart(8, "0")})`;
      if (row) {
        const action = (column && (row[column] as string)) || row.basic;
        const problem = check(action, el, out, a.bytes, b.bytes, inSet, option);
        if (problem) problems.push(`${name} ${row.name} [${action}]: ${problem}`);
      }
      // Nested attributes are checked where the output kept the sequence and its items.
      if (el.items && out?.items && out.items.length === el.items.length) {
        el.items.forEach((item, i) => visit(item, out.items![i], `${name}[${i}]/`));
      }
    }
  };
  visit(a.ds, b.ds, "");
  return problems;

  function check(
    action: string,
    el: Element,
    out: Element | undefined,
    ib: Uint8Array,
    ob: Uint8Array,
    inSet: DataSet,
    opt: string | undefined,
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
          if ((el.tag >>> 16) % 2 === 1 && opt === "retain-safe-private" && !removed) {
            return safeKeys.has(
              `${(el.tag >>> 16).toString(16).toUpperCase().padStart(4, "0")}|${
                creatorOf(ib, inSet, el.tag)
              }|${(el.tag & 0xff).toString(16).toUpperCase().padStart(2, "0")}`,
            ) || ((el.tag & 0xffff) <= 0x00ff);
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
            return removed || safeKeys.has(
              `${(el.tag >>> 16).toString(16).toUpperCase().padStart(4, "0")}|${
                creatorOf(ib, inSet, el.tag)
              }|${(el.tag & 0xff).toString(16).toUpperCase().padStart(2, "0")}`,
            ) || ((el.tag & 0xffff) <= 0x00ff);
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
}
