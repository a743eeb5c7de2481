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
 * Everything is checked here, when the file is read: a bad address, an unknown action, an odd group given
 * as a plain tag or range (private attributes are addressed by their creator), two entries that give the
 * same attribute different actions with nothing to choose between them. Errors name the entry.
 *
 * Reading a profile file does not load the PS3.15 table (`profile.ts`): only its types are used here.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { tagByKeyword, vrOf } from "@conduit/shared/dicom";
import type { Action, CustomLayer } from "./profile.ts";
import { ProfileError } from "./profile_error.ts";

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
}

const ACTIONS = ["D", "Z", "X", "K", "C", "U"] as const;
const PRIVATE_ACTIONS = ["K", "X", "Z", "D"] as const;
const KNOWN_KEYS = ["name", "method", "options", "shiftDates", "actions"];
const FORMS = "a keyword, a tag (gggg,eeee), a range such as (60xx,3000), or a private attribute " +
  '(gggg,"CREATOR",ee)';

const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
const hex2 = (n: number) => n.toString(16).toUpperCase().padStart(2, "0");

/** The address forms, tried in this order. */
const TAG_OR_RANGE = /^\(?([0-9a-fx]{4}),?([0-9a-fx]{4})\)?$/i;
const PRIVATE = /^\((?<group>[^,]*),(?<creator>.*),(?<element>[^,]*)\)$/;

/** One parsed address with its action. */
type Entry =
  | { kind: "tag"; tag: number; action: Action }
  | { kind: "range"; range: CustomRange }
  | { kind: "private"; rule: PrivateAction };

/** Parses one `actions` entry; throws a ProfileError naming it. */
export function parseEntry(address: string, action: unknown): Entry {
  const where = `actions: ${JSON.stringify(address)}`;
  const fail = (why: string): never => {
    throw new ProfileError(`${where}: ${why}`);
  };
  const text = address.trim();
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
    return {
      kind: "private",
      rule: { pattern, group, creator, element, action: action as PrivateActionCode },
    };
  }
  if (typeof action !== "string" || !(ACTIONS as readonly string[]).includes(action)) {
    fail(`the action is one of ${ACTIONS.join(", ")}, not ${JSON.stringify(action)}`);
  }
  const a = action as Action;
  const tagMatch = TAG_OR_RANGE.exec(text);
  if (tagMatch) {
    const [groupText, elementText] = [tagMatch[1].toUpperCase(), tagMatch[2].toUpperCase()];
    const digits = groupText + elementText;
    const fixed = digits.replace(/X/g, "").length;
    const lastGroupDigit = groupText[3];
    if (lastGroupDigit !== "X" && Number.parseInt(lastGroupDigit, 16) % 2 === 1) {
      fail(
        `${groupText} is a private (odd) group: a private attribute is addressed by its creator, as in ` +
          `(${groupText},"CREATOR",${elementText.slice(2)})`,
      );
    }
    if (fixed === 8) return { kind: "tag", tag: uidCheck(Number.parseInt(digits, 16) >>> 0), action: a };
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
  return { kind: "tag", tag: uidCheck(tag!), action: a };

  /** U maps UIDs: on an attribute that is neither a UID nor a sequence (of references) it would keep it. */
  function uidCheck(tag: number): number {
    const vr = vrOf(tag);
    if (a === "U" && vr !== "UI" && vr !== "SQ") {
      fail(`U replaces UIDs, and this attribute's VR is ${vr}: give it D, Z, X, K or C`);
    }
    return tag;
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
  const sourceOf = new Map<number, string>();
  const ranges: CustomRange[] = [];
  const privateActions: PrivateAction[] = [];
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
      if (before !== undefined && before !== entry.action) throw clash(sourceOf.get(entry.tag)!);
      actions.set(entry.tag, entry.action);
      sourceOf.set(entry.tag, address);
    } else if (entry.kind === "range") {
      const e = entry.range;
      // Equally specific ranges that overlap leave nothing to choose between them: refused.
      const other = ranges.find((o) => o.fixed === e.fixed && o.action !== e.action && overlap(o, e));
      if (other) throw clash(other.pattern);
      if (!ranges.some((o) => o.mask === e.mask && o.value === e.value)) ranges.push(e);
    } else {
      const e = entry.rule;
      const same = privateActions.find((o) =>
        o.group === e.group && o.creator === e.creator && o.element === e.element
      );
      if (same && same.action !== e.action) throw clash(same.pattern);
      if (!same) privateActions.push(e);
    }
  }
  // The most specific range first (the first that matches decides); equal ones in the file's order.
  ranges.sort((a, b) => b.fixed - a.fixed);
  const options = r.options ?? [];
  if (!Array.isArray(options) || options.some((o) => typeof o !== "string")) {
    throw new ProfileError("options must be a list of option names");
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
      name: String(r.name ?? path.basename(file)),
      method: r.method === undefined ? undefined : String(r.method),
      actions,
      ranges,
      privateActions,
      shiftDates: shift as CustomLayer["shiftDates"],
    },
  };
}

/** Reads and checks a profile file (see {@link parseProfileFile}); a file that cannot be read is a ProfileError too. */
export function readProfileFile(file: string): { options: string[]; layer: CustomLayer } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ProfileError(`cannot read it: ${(err as Error).message}`);
  }
  return parseProfileFile(text, file);
}
