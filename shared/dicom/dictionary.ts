/**
 * The DICOM data dictionary, by tag and by keyword, backed by dcmjs's dictionary.
 * Tags are numbers: `0x00100010` is (0010,0010).
 */
import dcmjs from "dcmjs";

interface DictEntry {
  tag: string;
  vr: string;
  vm: string;
  name: string;
}

// deno-lint-ignore no-explicit-any
const meta = (dcmjs as any).data.DicomMetaDictionary as {
  dictionary: Record<string, DictEntry | undefined>;
  nameMap: Record<string, DictEntry | undefined>;
};

/** What the dictionary knows of one attribute. */
export interface Attribute {
  tag: number;
  vr: string;
  keyword: string;
}

const byTag = new Map<number, Attribute | null>();

/** Formats a tag as `(gggg,eeee)` with upper-case hex digits. */
export function formatTag(tag: number): string {
  const hex = (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

/** Formats a tag as the 8 hex digits DICOM JSON uses (`00100010`). */
export function tagHex(tag: number): string {
  return (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
}

/** Parses `(gggg,eeee)`, `gggg,eeee` or `ggggeeee`; returns undefined when it is not a tag. */
export function parseTag(text: string): number | undefined {
  const m = /^\(?([0-9a-fA-F]{4}),?([0-9a-fA-F]{4})\)?$/.exec(text.trim());
  if (!m) return undefined;
  return parseInt(m[1] + m[2], 16) >>> 0;
}

function lookupEntry(tag: number): DictEntry | undefined {
  const hex = tagHex(tag);
  const group = hex.slice(0, 4);
  const elem = hex.slice(4);
  const exact = meta.dictionary[`(${group},${elem})`];
  if (exact) return exact;
  // repeating groups: overlays and curves (60xx, 50xx), and (gggg,xx..) forms
  const masked = [
    `(${group.slice(0, 2)}xx,${elem})`,
    `(${group},${elem.slice(0, 2)}xx)`,
    `(${group},xx${elem.slice(2)})`,
  ];
  for (const key of masked) {
    const entry = meta.dictionary[key];
    if (entry) return entry;
  }
  return undefined;
}

/** Looks up a tag; group lengths and private tags have no keyword. */
export function attributeByTag(tag: number): Attribute | undefined {
  tag = tag >>> 0;
  const cached = byTag.get(tag);
  if (cached !== undefined) return cached ?? undefined;
  let found: Attribute | null = null;
  if ((tag & 0xffff) === 0) {
    found = { tag, vr: "UL", keyword: "" };
  } else if ((tag >>> 16) % 2 === 0) {
    const entry = lookupEntry(tag);
    if (entry) found = { tag, vr: entry.vr, keyword: entry.name };
  }
  byTag.set(tag, found);
  return found ?? undefined;
}

/** The VR for implicit VR parsing: the dictionary's, or UN when unknown. Multi-VR entries pick the first. */
export function vrOf(tag: number): string {
  const a = attributeByTag(tag);
  if (!a) return "UN";
  const vr = a.vr.split(/\s*(?:or|\|)\s*/)[0];
  return /^[A-Z]{2}$/.test(vr) ? vr : "UN";
}

/** Resolves a keyword (`PatientName`) to its tag. */
export function tagByKeyword(keyword: string): number | undefined {
  const entry = meta.nameMap[keyword];
  if (!entry) return undefined;
  return parseTag(entry.tag.replace(/x/g, "0"));
}

/** Resolves a keyword or a `(gggg,eeee)` / `ggggeeee` tag; undefined when neither. */
export function resolveTag(keywordOrTag: string): number | undefined {
  return parseTag(keywordOrTag) ?? tagByKeyword(keywordOrTag);
}
