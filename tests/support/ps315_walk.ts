/**
 * An independent check of de-identified output against PS3.15 Table E.1-1 itself (the JSON copy of the
 * standard's table in agent/deid/ps3.15/table_e1_1.json), not against the profile the engine compiled
 * from it: for every attribute the table lists that is present in the input, at the top level or inside
 * sequences, the output must hold what the Basic Profile column allows. The combinations (X/Z, X/D,
 * Z/D, X/Z/D, X/Z/U*) allow the union of their parts. Everywhere, an original non-empty value the
 * table does not keep must not survive unchanged.
 */
import { fileURLToPath } from "node:url";
import {
  type DataSet,
  type Element,
  encodingOf,
  findElement,
  parseDataSet,
  readPart10Header,
} from "@conduit/shared/dicom";

const TABLE = fileURLToPath(new URL("../../agent/deid/ps3.15/table_e1_1.json", import.meta.url));

interface Row {
  name: string;
  /** The basic column's action. */
  action: string;
  /** The option columns' actions, by option name (kebab case), where the column has one. */
  options: Record<string, string>;
  match(tag: number): boolean;
}

/** The option names (kebab case of the column titles) and their columns' keys in the JSON table. */
const OPTION_COLUMNS: Record<string, string> = {
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

let rows: Row[] | undefined;

/** The table's rows, with a matcher per tag pattern (`(50xx,xxxx)` style wildcards included). */
export function tableRows(): Row[] {
  if (rows) return rows;
  const table = JSON.parse(Deno.readTextFileSync(TABLE)) as {
    edition: string;
    rows: ({ name: string; tag: string; basic: string } & Record<string, string>)[];
  };
  rows = table.rows.map((r) => {
    const options: Record<string, string> = {};
    for (const [name, column] of Object.entries(OPTION_COLUMNS)) if (r[column]) options[name] = r[column];
    if (/gggg is odd/.test(r.tag)) {
      return { name: r.name, action: r.basic, options, match: (tag: number) => (tag >>> 16) % 2 === 1 };
    }
    const m = /^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)$/.exec(r.tag);
    if (!m) throw new Error(`unexpected tag ${r.tag} in the table`);
    const pattern = (m[1] + m[2]).toUpperCase();
    return {
      name: r.name,
      action: r.basic,
      options,
      match: (tag: number) => {
        const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
        return (tag >>> 16) % 2 === 0 && [...pattern].every((c, i) => c === "X" || c === hex[i]);
      },
    };
  });
  return rows;
}

function rowOf(tag: number): Row | undefined {
  return tableRows().find((r) => r.match(tag));
}

/** One parsed Part 10 file. */
export function parsePart10(bytes: Uint8Array): { dataset: DataSet; bytes: Uint8Array } {
  const h = readPart10Header(bytes);
  const enc = encodingOf(h.transferSyntax);
  if (enc.deflated) throw new Error("deflated input: inflate it before the walk");
  return { dataset: parseDataSet(bytes, enc, { start: h.datasetOffset }).dataset, bytes };
}

function text(bytes: Uint8Array, el: Element): string {
  if (el.length <= 0 || el.items) return "";
  return new TextDecoder("latin1").decode(bytes.subarray(el.valueOffset, el.valueOffset + el.length))
    .replace(/[\0 ]+$/, "").trim();
}

/** A breach: where, which attribute, what the table asked and what the output held. */
export interface Breach {
  path: string;
  name: string;
  action: string;
  found: string;
}

/**
 * Walks `input` and reports every listed attribute whose output breaks the Basic Profile's action, or
 * the action of a chosen option's column where it has one (PS3.15 E.3: an option's K or C wins; C over K
 * when two options name the row). An attribute inside a sequence the output removed or emptied is gone
 * with it, which every action allows.
 */
export function walk(input: Uint8Array, output: Uint8Array, options: string[] = []): Breach[] {
  for (const o of options) if (!OPTION_COLUMNS[o]) throw new Error(`unknown option ${o}`);
  const actionOf = (row: Row) => {
    const chosen = options.map((o) => row.options[o]).filter(Boolean);
    return chosen.includes("C") ? "C" : chosen.includes("K") ? "K" : row.action;
  };
  const a = parsePart10(input);
  const b = parsePart10(output);
  const out: Breach[] = [];
  const visit = (inDs: DataSet, outDs: DataSet | undefined, where: string) => {
    for (const el of inDs.elements) {
      const row = rowOf(el.tag);
      const hex = (el.tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
      const here = `${where}(${hex.slice(0, 4)},${hex.slice(4)})`;
      const o = outDs ? findElement(outDs, el.tag) : undefined;
      if (row && outDs) {
        const action = actionOf(row);
        const found = check(action, a.bytes, el, b.bytes, o);
        if (found) out.push({ path: here, name: row.name, action, found });
      }
      if (el.items && o?.items) {
        el.items.forEach((item, i) => visit(item, o.items![i], `${here}[${i}]`));
      }
    }
  };
  visit(a.dataset, b.dataset, "");
  return out;
}

/** Undefined when `o` is what `action` allows for `el`; otherwise what was wrong. */
function check(
  action: string,
  ib: Uint8Array,
  el: Element,
  ob: Uint8Array,
  o: Element | undefined,
): string | undefined {
  const original = text(ib, el);
  const value = o ? text(ob, o) : undefined;
  const absent = o === undefined;
  const empty = o !== undefined &&
    (o.length === 0 || (o.items !== undefined && o.items.length === 0) || value === "");
  const changed = o !== undefined && (el.items !== undefined || original === "" || value !== original);
  const uid = o !== undefined && (value === "" || /^2\.25\.\d{1,39}$/.test(value ?? "")) &&
    (original === "" || value !== original);
  const allowed: Record<string, boolean> = {
    // K keeps the value; C cleans it (a shifted date, a neutral text): present, whatever it holds.
    K: !absent && (el.items !== undefined || value === original),
    C: !absent,
    X: absent,
    Z: empty || changed,
    D: !absent && changed,
    U: uid || (o?.items !== undefined),
  };
  const parts = action.replace("U*", "U").split("/");
  if (parts.some((p) => !(p in allowed))) return `unknown action ${action}`;
  if (parts.some((p) => allowed[p])) return undefined;
  return absent ? "absent" : `kept ${JSON.stringify(value)}`;
}
