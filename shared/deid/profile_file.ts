/**
 * Custom profile files (`deid --profile-file`, a route's `deid.profileFile`): a JSON object
 * `{ name?, method?, options?, shiftDates?, actions: { ADDRESS: ACTION } }` whose actions win over the
 * PS3.15 table. An address is one of:
 *
 * - a keyword or a tag, `StudyDescription`, `(0008,1030)`: one standard attribute;
 * - a range, `(60xx,3000)`, `(50xx,xxxx)`, `(0008,10xx)`: `x` stands for any hex digit, in the group or the
 *   element; ranges apply to standard (even) groups only;
 * - a private attribute by its creator, `(0009,"GEMS_IDEN_01",04)` (the quotes may be left out:
 *   `(0009,GEMS_IDEN_01,04)`; the element may be written `xx04`), or a creator's whole block,
 *   `(0009,"GEMS_IDEN_01",xx)`. It matches where a creator element of that group holds exactly that text
 *   (trimmed), whichever block the creator reserved, at any depth.
 *
 * An action is a code (`"K"`), or `{ "action": "D", "value": "TEXT" }` to replace one attribute's value with
 * a given text (Orthanc's Replace, CTP's fixed values) instead of a dummy.
 *
 * Everything is checked here, when the file is read: a bad address, an unknown action, an odd group given
 * as a plain tag or range (private attributes are addressed by their creator), two entries that give the
 * same attribute different actions with nothing to choose between them. Errors name the entry.
 *
 * Pure (no I/O, no PS3.15 table): the agent reads files with it (`agent/deid/profile_file.ts`), and the hub
 * checks a transfer's custom profile (`deid.custom`) with it, so both refuse the same entries alike.
 */
import { tagByKeyword, vrOf } from "../dicom/mod.ts";

/**
 * The error of a bad profile name, option or custom profile; its message is a sentence for the user. The
 * agent's engine throws it too (`agent/deid/profile_error.ts` is this class).
 */
export class ProfileError extends Error {
  override name = "ProfileError";
}

/** A PS3.15 action code (combinations resolved). */
export type Action = "D" | "Z" | "X" | "K" | "C" | "U";

/** A custom profile's layer over the PS3.15 table, compiled. */
export interface CustomLayer {
  name: string;
  method?: string;
  actions: ReadonlyMap<number, Action>;
  /** Replacement values of D actions in `actions` (written instead of a dummy). */
  values?: ReadonlyMap<number, string>;
  /** Most specific first. */
  ranges?: readonly CustomRange[];
  privateActions?: readonly PrivateAction[];
  shiftDates?: { minDays: number; maxDays: number };
}

/** An action on a range of standard tags: where `(tag & mask) === value`. */
export interface CustomRange {
  /** The range as the file wrote it, normalized: `(60XX,3000)`. */
  pattern: string;
  mask: number;
  value: number;
  /** How many hex digits the range fixes (8 for a single tag): the more, the more specific. */
  fixed: number;
  action: Action;
}

/** The actions a private attribute may be given. */
export type PrivateActionCode = "K" | "X" | "Z" | "D";

/**
 * Value representations a replacement value may be given to, with their longest value (PS3.5 6.2) and the
 * form one value takes (a replacement may hold several, `\`-separated, except in LT, ST, UT and UR).
 */
const TEXT_VRS: Record<string, { max: number; form?: RegExp }> = {
  AE: { max: 16 },
  AS: { max: 4, form: /^\d{3}[DWMY]$/ },
  CS: { max: 16, form: /^[A-Z0-9 _]*$/ },
  DA: { max: 8, form: /^\d{8}$/ },
  DS: { max: 16, form: /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/ },
  DT: { max: 26, form: /^\d{4,14}(\.\d{1,6})?([+-]\d{4})?$/ },
  IS: { max: 12, form: /^[+-]?\d+$/ },
  LO: { max: 64 },
  LT: { max: 10240 },
  PN: { max: 64 * 3 },
  SH: { max: 16 },
  ST: { max: 1024 },
  TM: { max: 14, form: /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/ },
  UC: { max: 0xfffffffe },
  UI: { max: 64, form: /^\d+(\.\d+)*$/ },
  UR: { max: 0xfffffffe },
  UT: { max: 0xfffffffe },
};
const SINGLE_VALUED = new Set(["LT", "ST", "UT", "UR"]);

/** Why `value` cannot be an attribute of VR `vr`'s value, or undefined when it can. */
export function valueProblem(vr: string, value: string): string | undefined {
  const rule = TEXT_VRS[vr];
  if (!rule) return `a value cannot be written to an attribute of VR ${vr}; give it D without a value`;
  for (const v of SINGLE_VALUED.has(vr) ? [value] : value.split("\\")) {
    if (v.length > rule.max) {
      return `${JSON.stringify(v)} is longer than ${vr} allows (${rule.max} characters)`;
    }
    if (rule.form && v !== "" && !rule.form.test(v)) return `${JSON.stringify(v)} is not a valid ${vr} value`;
  }
  return undefined;
}

/** An action on private attributes: the element `element` (or every one) of `creator`'s block in `group`. */
export interface PrivateAction {
  /** Normalized: `(0009,"GEMS_IDEN_01",04)`, `(0009,"GEMS_IDEN_01",xx)`. */
  pattern: string;
  group: number;
  /** Trimmed; compared exactly (case included). */
  creator: string;
  /** The element's low byte; absent for the whole block. */
  element?: number;
  action: PrivateActionCode;
  /** With D: the text written instead of a dummy. */
  value?: string;
}

const ACTIONS = ["D", "Z", "X", "K", "C", "U"] as const;
const PRIVATE_ACTIONS = ["K", "X", "Z", "D"] as const;
const KNOWN_KEYS = ["name", "method", "options", "shiftDates", "actions"];
const FORMS = "a keyword, a tag (gggg,eeee), a range such as (60xx,3000), or a private attribute " +
  '(gggg,"CREATOR",ee)';

const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, "0");

/** The address forms, tried in this order. */
const TAG_OR_RANGE = /^(?:\(([0-9a-fx]{4}),([0-9a-fx]{4})\)|([0-9a-fx]{4}),?([0-9a-fx]{4}))$/i;
const PRIVATE = /^\((?<group>[^,]*),(?<creator>.*),(?<element>[^,]*)\)$/;

/** One parsed address with its action. */
type Entry =
  | { kind: "tag"; tag: number; action: Action; value?: string }
  | { kind: "range"; range: CustomRange }
  | { kind: "private"; rule: PrivateAction };

/** Parses one `actions` entry; throws a ProfileError naming it. */
export function parseEntry(address: string, action: unknown): Entry {
  const where = `actions: ${JSON.stringify(address)}`;
  const fail = (why: string): never => {
    throw new ProfileError(`${where}: ${why}`);
  };
  const text = address.trim();
  // `{ "action": "D", "value": "TEXT" }`: a replacement value, checked against the VR below.
  let value: string | undefined;
  if (typeof action === "object" && action !== null && !Array.isArray(action)) {
    const o = action as Record<string, unknown>;
    if (Object.keys(o).some((k) => k !== "action" && k !== "value") || o.action !== "D") {
      fail('an action with a value is { "action": "D", "value": "TEXT" }');
    }
    if (typeof o.value !== "string") fail(`the value must be a string, not ${JSON.stringify(o.value)}`);
    value = o.value as string;
    if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) > 0x7e)) {
      fail("the value must be printable ASCII (the Specific Character Set of the object is not known here)");
    }
    action = "D";
  }
  const privateMatch = PRIVATE.exec(text);
  if (privateMatch) {
    const g = privateMatch.groups!;
    if (!/^[0-9a-f]{4}$/i.test(g.group.trim())) {
      fail(`the group must be four hex digits, not ${JSON.stringify(g.group)}`);
    }
    const group = Number.parseInt(g.group.trim(), 16);
    if (group % 2 === 0) {
      fail(`a private creator addresses an odd group; ${hex4(group)} is a standard group`);
    }
    if (group <= 0x0007 || group === 0xffff) {
      fail(`group ${hex4(group)} cannot hold private attributes (PS3.5 7.8.1)`);
    }
    let creator = g.creator.trim();
    if (creator.length >= 2 && creator.startsWith('"') && creator.endsWith('"')) {
      creator = creator.slice(1, -1).trim();
    }
    if (!creator) fail("the private creator is empty");
    if (creator.length > 64) fail("the private creator is longer than 64 characters (LO)");
    if ([...creator].some((c) => c === "\\" || c.charCodeAt(0) < 0x20)) {
      fail("the private creator holds a backslash or a control character");
    }
    const e = g.element.trim();
    let element: number | undefined;
    if (/^xx$/i.test(e)) element = undefined;
    else if (/^(xx)?[0-9a-f]{2}$/i.test(e)) element = Number.parseInt(e.slice(-2), 16);
    else {
      fail(
        `the element must be two hex digits (the element's low byte, as in (0009,"GEMS_IDEN_01",04)) or xx, ` +
          `not ${JSON.stringify(e)}`,
      );
    }
    if (typeof action !== "string" || !(PRIVATE_ACTIONS as readonly string[]).includes(action)) {
      fail(
        `a private attribute's action is one of ${PRIVATE_ACTIONS.join(", ")}, not ${JSON.stringify(action)}`,
      );
    }
    const pattern = `(${hex4(group)},${JSON.stringify(creator)},${
      element === undefined ? "xx" : hex2(element)
    })`;
    if (value !== undefined && element === undefined) {
      fail("a value replaces one private element, not a whole block");
    }
    if (value !== undefined && value.length > 64) fail("a private element's value is at most 64 characters");
    return {
      kind: "private",
      rule: {
        pattern,
        group,
        creator,
        element,
        action: action as PrivateActionCode,
        ...(value !== undefined ? { value } : {}),
      },
    };
  }
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action)) {
    fail(`the action is one of ${ACTIONS.join(", ")}, not ${JSON.stringify(action)}`);
  }
  const a = action as Action;
  const tagMatch = TAG_OR_RANGE.exec(text);
  if (tagMatch) {
    const [groupText, elementText] = [
      (tagMatch[1] ?? tagMatch[3]).toUpperCase(),
      (tagMatch[2] ?? tagMatch[4]).toUpperCase(),
    ];
    const digits = groupText + elementText;
    const fixed = digits.replace(/X/g, "").length;
    const lastGroupDigit = groupText[3];
    if (lastGroupDigit !== "X" && Number.parseInt(lastGroupDigit, 16) % 2 === 1) {
      fail(
        `${groupText} is a private (odd) group: a private attribute is addressed by its creator, as in ` +
          `(${groupText},"CREATOR",${elementText.slice(2)})`,
      );
    }
    if (fixed === 8) return tagEntry(Number.parseInt(digits, 16) >>> 0);
    if (value !== undefined) fail("a value replaces one attribute, not a range");
    return {
      kind: "range",
      range: {
        pattern: `(${groupText},${elementText})`,
        mask: Number.parseInt(digits.replace(/[0-9A-F]/g, "F").replace(/X/g, "0"), 16) >>> 0,
        value: Number.parseInt(digits.replace(/X/g, "0"), 16) >>> 0,
        fixed,
        action: a,
      },
    };
  }
  const tag = tagByKeyword(text);
  if (tag === undefined) fail(`not ${FORMS}`);
  return tagEntry(tag!);

  /** One attribute: U maps UIDs (it would keep anything else), a value must suit the VR. */
  function tagEntry(tag: number): Entry {
    const vr = vrOf(tag);
    if (a === "U" && vr !== "UI" && vr !== "SQ") {
      fail(`U replaces UIDs, and this attribute's VR is ${vr}: give it D, Z, X, K or C`);
    }
    if (value !== undefined) {
      const problem = valueProblem(vr, value);
      if (problem) fail(problem);
    }
    return { kind: "tag", tag, action: a, ...(value !== undefined ? { value } : {}) };
  }
}

/** Two ranges that some tag matches both. */
function overlap(a: CustomRange, b: CustomRange): boolean {
  const common = (a.mask & b.mask) >>> 0;
  return ((a.value & common) >>> 0) === ((b.value & common) >>> 0);
}

/**
 * Checks and compiles a profile file's text. `file` names it in the layer's default name. Throws a
 * ProfileError naming the entry (or the line of a JSON syntax error).
 */
export function parseProfileFile(text: string, file: string): { options: string[]; layer: CustomLayer } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`not JSON: ${(err as Error).message}`);
  }
  return parseProfile(raw, file.split(/[\\/]/).pop() || file);
}

/**
 * Checks and compiles a custom profile already parsed from JSON (a file's, or a transfer's `deid.custom`);
 * `defaultName` names the layer when the profile names none. Throws a ProfileError naming the entry.
 */
export function parseProfile(raw: unknown, defaultName: string): { options: string[]; layer: CustomLayer } {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new ProfileError("expected a JSON object");
  }
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!KNOWN_KEYS.includes(k)) {
      throw new ProfileError(`unknown key ${JSON.stringify(k)} (known: ${KNOWN_KEYS.join(", ")})`);
    }
  }
  if (
    r.actions !== undefined &&
    (typeof r.actions !== "object" || r.actions === null || Array.isArray(r.actions))
  ) {
    throw new ProfileError('actions must be an object: { "ADDRESS": "ACTION", ... }');
  }
  const actions = new Map<number, Action>();
  const values = new Map<number, string>();
  const sourceOf = new Map<number, string>();
  const ranges: CustomRange[] = [];
  const privateActions: PrivateAction[] = [];
  // Each range and private rule with its address as the file writes it (a clash quotes the file's text).
  const written = new Map<CustomRange | PrivateAction, string>();
  for (const [address, action] of Object.entries((r.actions ?? {}) as Record<string, unknown>)) {
    const entry = parseEntry(address, action);
    const clash = (other: string) =>
      new ProfileError(
        `actions: ${JSON.stringify(address)} and ${
          JSON.stringify(other)
        } give the same attributes different ` +
          `actions; keep one`,
      );
    if (entry.kind === "tag") {
      const before = actions.get(entry.tag);
      if (before !== undefined && (before !== entry.action || values.get(entry.tag) !== entry.value)) {
        throw clash(sourceOf.get(entry.tag)!);
      }
      actions.set(entry.tag, entry.action);
      if (entry.value !== undefined) values.set(entry.tag, entry.value);
      sourceOf.set(entry.tag, address);
    } else if (entry.kind === "range") {
      const e = entry.range;
      // Equally specific ranges that overlap leave nothing to choose between them: refused.
      const other = ranges.find((o) => o.fixed === e.fixed && o.action !== e.action && overlap(o, e));
      if (other) throw clash(written.get(other) ?? other.pattern);
      if (!ranges.some((o) => o.mask === e.mask && o.value === e.value)) {
        ranges.push(e);
        written.set(e, address);
      }
    } else {
      const e = entry.rule;
      const same = privateActions.find((o) =>
        o.group === e.group && o.creator === e.creator && o.element === e.element
      );
      if (same && (same.action !== e.action || same.value !== e.value)) {
        throw clash(written.get(same) ?? same.pattern);
      }
      if (!same) {
        privateActions.push(e);
        written.set(e, address);
      }
    }
  }
  // The most specific range first (the first that matches decides); equal ones in the file's order.
  ranges.sort((a, b) => b.fixed - a.fixed);
  const options = r.options ?? [];
  if (!Array.isArray(options) || options.some((o) => typeof o !== "string")) {
    throw new ProfileError("options must be a list of option names");
  }
  // The first value of De-identification Method (LO): one value that suits any character set.
  if (
    r.method !== undefined && (typeof r.method !== "string" || !/^[\x20-\x5b\x5d-\x7e]{1,64}$/.test(r.method))
  ) {
    throw new ProfileError(
      `method must be 1 to 64 printable ASCII characters without a backslash, not ${
        JSON.stringify(r.method)
      }`,
    );
  }
  const shift = r.shiftDates as { minDays?: unknown; maxDays?: unknown } | undefined;
  if (
    shift !== undefined &&
    !(Number.isInteger(shift?.minDays) && Number.isInteger(shift?.maxDays) &&
      (shift.minDays as number) >= 0 && (shift.maxDays as number) >= (shift.minDays as number))
  ) {
    throw new ProfileError("shiftDates must be { minDays, maxDays }, whole days, 0 <= minDays <= maxDays");
  }
  return {
    options: options as string[],
    layer: {
      name: String(r.name ?? defaultName),
      method: r.method as string | undefined,
      actions,
      ...(values.size ? { values } : {}),
      ranges,
      privateActions,
      shiftDates: shift as CustomLayer["shiftDates"],
    },
  };
}
