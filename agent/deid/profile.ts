/**
 * De-identification profiles as data: the PS3.15 Basic Application Level Confidentiality Profile and its
 * option columns, compiled from the generated `ps3.15/profile_2026c.json` (never typed by hand), with an
 * optional custom layer on top (a profile file's own actions win over the standard's).
 *
 * Options combine as PS3.15 E.3 says: an option's K or C wins over the basic action for its rows. Where
 * two chosen options name a row (a calibration date under Retain Device Identity and Modified Dates), C
 * wins over K, the more protective of the two.
 */
import generated from "./ps3.15/profile_2026c.json" with { type: "json" };
import type {
  Action,
  CustomLayer,
  CustomRange,
  PrivateAction,
  PrivateActionCode,
} from "@conduit/shared/deid/profile-file";
import { ProfileError } from "./profile_error.ts";
/** For code that reaches this module through load_profile.ts (a transfer's custom profile). */
export { parseProfile } from "@conduit/shared/deid/profile-file";
export { readProfileFile } from "./profile_file.ts";
import { vrOf } from "@conduit/shared/dicom";

export type { CustomRange, PrivateAction, PrivateActionCode };

/** PS3.15 Table E.1-1a action codes. */
export type { Action };
/** An action as the table gives it, combinations included (resolved by the attribute's Type). */
export type TableAction = Action | "X/Z" | "X/D" | "Z/D" | "X/Z/D" | "X/Z/U*";

export const OPTION_NAMES = generated.options.map((o) => o.name) as readonly string[];
export type OptionName =
  | "retain-safe-private"
  | "retain-uids"
  | "retain-device-identity"
  | "retain-institution-identity"
  | "retain-patient-characteristics"
  | "retain-long-full-dates"
  | "retain-long-modified-dates"
  | "clean-descriptors"
  | "clean-structured-content"
  | "clean-graphics";

/** One row's action for an element, and which column decided it. */
export interface Rule {
  action: TableAction;
  /** The option whose column gave the action; absent when the basic column (or a custom action) did. */
  option?: OptionName;
  /** The table row's attribute name (for reports), or `custom (gggg,eeee)` for a profile file's action. */
  name: string;
  /** Set when the profile file's custom layer gave the action. */
  custom?: true;
  /** A custom D's replacement value. */
  value?: string;
}

export interface DeidProfile {
  /** `basic`, or `basic+<option>+...`, or the custom profile's name. */
  name: string;
  options: readonly OptionName[];
  /** Text for De-identification Method (0012,0063), one value per line (LO, 64 characters each). */
  method: string[];
  /** CID 7050 codes for the De-identification Method Code Sequence (0012,0064). */
  codes: { value: string; meaning: string }[];
  /** The action for a tag (private tags excepted), or undefined when the profile does not list it. */
  rule(tag: number): Rule | undefined;
  /** The strictest Type PS3.3 gives the tag inside the sequence `parent` (0: top level), if known. */
  typeOf(tag: number, parent: number): number | undefined;
  /** Private attributes kept under Retain Safe Private: `group|creator|element` (upper case) -> reason. */
  safePrivate?: ReadonlyMap<string, string>;
  /**
   * The custom layer's action for the private element `element` (its low byte) of the block `creator`
   * (trimmed) reserved in `group`, or undefined when the layer names neither it nor its block.
   */
  privateAction?(group: number, creator: string, element: number): PrivateAction | undefined;
  /** Date shift range in days (Retain Longitudinal Temporal Information with Modified Dates). */
  shiftDates?: { minDays: number; maxDays: number };
}

export { ProfileError };

/**
 * A custom layer from a profile file (`shared/deid/profile_file.ts`): actions that win over the standard
 * profile's. For a standard tag: an exact tag first, then the most specific range (`ranges`, sorted so), then
 * the table. For a private attribute: its creator's element, then its creator's block, then Retain Safe
 * Private, then removal.
 */
export type { CustomLayer };

const attributes = new Map<number, (typeof generated.attributes)[keyof typeof generated.attributes]>();
for (const [hex, row] of Object.entries(generated.attributes)) attributes.set(Number.parseInt(hex, 16), row);
const repeating = generated.repeating.map((r) => ({
  ...r,
  maskN: Number.parseInt(r.mask, 16) >>> 0,
  valueN: Number.parseInt(r.value, 16) >>> 0,
}));
const types = new Map<number, Map<number, number>>();
for (const [hex, byParent] of Object.entries(generated.types)) {
  types.set(
    Number.parseInt(hex, 16),
    new Map(Object.entries(byParent).map(([p, t]) => [p === "" ? 0 : Number.parseInt(p, 16), t as number])),
  );
}

/** Checks option names (kebab case of the table's column titles) and their combination. */
export function parseOptionNames(names: readonly string[]): OptionName[] {
  const out: OptionName[] = [];
  for (const n of names) {
    if (!OPTION_NAMES.includes(n)) {
      throw new ProfileError(
        `unknown de-identification option ${JSON.stringify(n)}; the options are ${OPTION_NAMES.join(", ")}`,
      );
    }
    if (!out.includes(n as OptionName)) out.push(n as OptionName);
  }
  if (out.includes("retain-long-full-dates") && out.includes("retain-long-modified-dates")) {
    throw new ProfileError(
      "retain-long-full-dates and retain-long-modified-dates exclude each other (PS3.15 E.3.6)",
    );
  }
  // The standard's order, so that the same set of options always gives the same profile.
  return OPTION_NAMES.filter((n) => out.includes(n as OptionName)) as OptionName[];
}

function resolveRow(
  row: { name: string; basic: string; options: Record<string, string> },
  options: readonly OptionName[],
): Rule {
  let rule: Rule = { action: row.basic as TableAction, name: row.name };
  for (const o of options) {
    const a = row.options[o];
    if (!a) continue;
    // An option's K or C wins over the basic action; between two options, C wins over K.
    if (rule.option && rule.action === "C" && a === "K") continue;
    rule = { action: a as TableAction, option: o, name: row.name };
  }
  return rule;
}

const formatTag = (tag: number) => {
  const h = (tag >>> 0).toString(16).toUpperCase().padStart(8, "0");
  return `(${h.slice(0, 4)},${h.slice(4)})`;
};

const DEFAULT_SHIFT = { minDays: 1, maxDays: 365 };

/**
 * The Basic Application Level Confidentiality Profile with the given options (names as in
 * `OPTION_NAMES`), and an optional custom layer on top.
 */
export function standardProfile(optionNames: readonly string[] = [], custom?: CustomLayer): DeidProfile {
  const options = parseOptionNames(optionNames);
  const cache = new Map<number, Rule | undefined>();
  const rule = (tag: number): Rule | undefined => {
    if (cache.has(tag)) return cache.get(tag);
    let r: Rule | undefined;
    const own = custom?.actions.get(tag);
    // A range's U applies to its UIDs (and sequences of references); its other attributes fall through.
    const range = own || (tag >>> 16) % 2 === 1
      ? undefined
      : custom?.ranges?.find((p) =>
        ((tag & p.mask) >>> 0) === p.value && (p.action !== "U" || vrOf(tag) === "UI" || vrOf(tag) === "SQ")
      );
    const value = own ? custom?.values?.get(tag) : undefined;
    if (own) {
      r = {
        action: own,
        name: `custom ${formatTag(tag)}`,
        custom: true,
        ...(value !== undefined ? { value } : {}),
      };
    } else if (range) r = { action: range.action, name: `custom ${range.pattern}`, custom: true };
    else {
      const row = attributes.get(tag) ?? repeating.find((p) =>
        ((tag & p.maskN) >>> 0) === p.valueN &&
        ((tag >>> 16) % 2 === 0)
      );
      if (row) r = resolveRow(row, options);
    }
    cache.set(tag, r);
    return r;
  };
  const safePrivate = options.includes("retain-safe-private")
    ? new Map(
      generated.safePrivate.map((s) => [`${s.group}|${s.creator.toUpperCase()}|${s.element}`, s.reason]),
    )
    : undefined;
  const codes = [
    { value: generated.basic.code, meaning: generated.basic.meaning },
    ...generated.options.filter((o) => options.includes(o.name as OptionName)).map((o) => ({
      value: o.code,
      meaning: o.meaning,
    })),
  ];
  const privateActions = custom?.privateActions?.length ? custom.privateActions : undefined;
  const privateAction = privateActions &&
    ((group: number, creator: string, element: number) => {
      let block: PrivateAction | undefined;
      for (const p of privateActions) {
        if (p.group !== group || p.creator !== creator) continue;
        if (p.element === element) return p;
        if (p.element === undefined) block = p;
      }
      return block;
    });
  const name = custom?.name ?? ["basic", ...options].join("+");
  const method = [
    custom?.method ?? `Conduit: PS3.15 ${generated.edition} Basic Profile`,
    // An option's title, or its CID 7050 meaning where the title is longer than a value of LO (64).
    ...options.map((o) => generated.options.find((g) => g.name === o)!).map((g) =>
      g.title.length <= 64 ? g.title : g.meaning
    ),
  ].map((m) => m.slice(0, 64));
  return {
    name,
    options,
    method,
    codes,
    rule,
    typeOf: (tag, parent) => types.get(tag)?.get(parent),
    safePrivate,
    ...(privateAction ? { privateAction } : {}),
    shiftDates: options.includes("retain-long-modified-dates")
      ? (custom?.shiftDates ?? DEFAULT_SHIFT)
      : undefined,
  };
}
