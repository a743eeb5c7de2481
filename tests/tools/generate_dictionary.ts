/**
 * `deno task dict:generate`: writes `shared/dicom/dictionary_data.json`, the standard data dictionary
 * (PS3.6, as dcmjs ships it) as plain data: one line `tag<TAB>VR<TAB>keyword` per attribute, and the
 * repeating groups (50xx, 60xx) as their first group, each table one JSON string (V8 keeps one string per
 * table until the first lookup, not 5000 arrays and their strings: issue 16, idle memory). The runtime reads this file instead of loading
 * dcmjs (24 MB of memory and a few hundred milliseconds at start). `--check` compares instead of
 * writing; `shared/dicom/dictionary_test.ts` does the same.
 */
import dcmjs from "dcmjs";
import * as fs from "node:fs";

export const DATA_FILE = new URL("../../shared/dicom/dictionary_data.json", import.meta.url);

interface Entry {
  tag: string;
  vr: string;
  name: string;
}

export function dictionaryText(): string {
  // deno-lint-ignore no-explicit-any
  const meta = (dcmjs as any).data.DicomMetaDictionary;
  const entries = (Object.values(meta.nameMap) as Entry[]).map((e) => ({
    hex: e.tag.slice(1, 5) + e.tag.slice(6, 10),
    vr: e.vr,
    name: e.name,
  })).sort((a, b) => a.hex.localeCompare(b.hex));
  const exact: string[] = [];
  const repeating: string[] = [];
  for (const e of entries) {
    const group = Number.parseInt(e.hex.slice(0, 4), 16);
    // A repeating group's entry is listed under its first group; the next even group has it too.
    const next = `(${(group + 2).toString(16).toUpperCase().padStart(4, "0")},${e.hex.slice(4)})`;
    const line = `${e.hex}\t${e.vr}\t${e.name}`;
    if ((group & 0xff) === 0 && meta.dictionary[next]?.name === e.name) repeating.push(line);
    else exact.push(line);
  }
  return JSON.stringify({
    source: "npm dcmjs@0.50.3 DicomMetaDictionary",
    exact: exact.join("\n"),
    repeating: repeating.join("\n"),
  }) + "\n";
}

if (import.meta.main) {
  const text = dictionaryText();
  if (Deno.args.includes("--check")) {
    if (fs.readFileSync(DATA_FILE, "utf8") !== text) {
      console.error("shared/dicom/dictionary_data.json differs; run deno task dict:generate");
      Deno.exit(1);
    }
  } else fs.writeFileSync(DATA_FILE, text);
}
