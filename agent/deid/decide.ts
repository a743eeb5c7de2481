/**
 * What happens to each element of a data set under a profile: the table's action (options applied,
 * combinations resolved by the attribute's Type), then the value it gets. Pure: the caller gives the
 * bytes, the parsed data set and the pseudonym key; nothing here reads files.
 *
 * - X removes, Z empties (Patient Name, Patient ID and Accession Number get their keyed pseudonyms
 *   instead, which Z allows), D writes a dummy of the VR (pseudonyms for those three), U maps every UID
 *   value with the keyed function, K keeps, and C cleans as the option that chose it says.
 * - A sequence that is kept, mapped (U) or given a D or C is walked item by item; under D or C its
 *   free text is replaced by a neutral value wherever the table does not name the element itself
 *   ("scrubbed"), so SR content, graphic annotations and acquisition context keep their structure,
 *   codes and numbers and lose their words.
 * - Private elements go, unless the custom layer names them by creator (K, X, Z or D) or Retain Safe
 *   Private keeps those the safe list names; a creator stays with any element of its block (`private.ts`).
 * - Overlay and curve groups go whole when their data is removed, so no half plane remains (elements the
 *   custom layer names excepted).
 */
import {
  type DataSet,
  type Element,
  parseUnSequence,
  stringValue,
  type TextDecoding,
  vrOf,
} from "@conduit/shared/dicom";
import {
  pseudonymizeAccession,
  pseudonymizeLabel,
  pseudonymizePatientId,
  pseudonymizePatientName,
  pseudonymizeUid,
  shiftedDate,
  shiftedDateTime,
} from "@conduit/shared/deid/pseudonyms";
import type { Action, DeidProfile, OptionName, TableAction } from "./profile.ts";
import { type Edit, encodeText } from "./rewrite.ts";
import { decidePrivate, type PrivateDecision } from "./private.ts";

/** What the decisions need besides the element. */
export interface DecideContext {
  bytes: Uint8Array;
  profile: DeidProfile;
  key: Uint8Array;
  decoding: TextDecoding;
  /** The original Patient ID (the pseudonyms and the date shift derive from it). */
  patientId: string;
  /** Date shift in days (0: none). */
  shift: number;
  /** Original Patient ID -> pseudonym (a per-patient table), taking precedence over the keyed one. */
  pseudonyms?: ReadonlyMap<string, string>;
  patientNamePrefix?: string;
}

/** The neutral value that replaces free text when it is cleaned. */
const NEUTRAL_TEXT = "CLEANED";

const T = {
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  AccessionNumber: 0x00080050,
} as const;

const TIMEZONE_OFFSET = 0x00080201;
/** Text VRs a private element's replacement value may be written to, and their longest value. */
const TEXT_MAX: Record<string, number> = {
  LO: 64,
  SH: 16,
  LT: 10240,
  ST: 1024,
  UT: 65536,
  UC: 65536,
  CS: 16,
};
const FREE_TEXT = new Set(["LO", "SH", "ST", "LT", "UT", "UC"]);
const BINARY = new Set(["US", "SS", "UL", "SL", "FL", "FD", "SV", "UV", "AT"]);
const DUMMY: Record<string, string> = {
  DA: "19000101",
  TM: "000000",
  DT: "19000101000000",
  PN: "ANONYMOUS",
  AS: "000Y",
  IS: "0",
  DS: "0",
  CS: "ANONYMOUS",
  AE: "ANONYMOUS",
};

/** The size of one value of the byte VRs longer than two bytes (a dummy holds one at least). */
const WORD: Record<string, number> = { OF: 4, OL: 4, OD: 8, OV: 8 };

/**
 * Sequences whose codes say who or where, not what: Person Identification Code Sequence (a staff member's
 * identifier and name) and Institution Code Sequence (the institution's). Under a D their codes are replaced
 * like any other words; elsewhere a scrubbed code is a concept (SR content, acquisition context) and stays.
 */
const IDENTITY_CODES = new Set([0x00401101, 0x00080082]);

/** Overlay Description and Overlay Label: an overlay's own words, which no row of Table E.1-1 names. */
const OVERLAY_TEXT = new Set([0x0022, 0x1500]);

/** Coded entries (the Code Sequence macro, group 0008 elements 0100-0122) keep their values when scrubbed. */
function isCodeAttribute(tag: number): boolean {
  return tag >>> 16 === 0x0008 && (tag & 0xffff) >= 0x0100 && (tag & 0xffff) <= 0x0122;
}

/** Resolves a combined action by the Type the standard gives the attribute where it sits (else the safest). */
export function resolveCombined(action: TableAction, type: number | undefined): Action {
  switch (action) {
    case "X/Z":
      return type === 3 ? "X" : "Z";
    case "X/D":
      return type === 3 ? "X" : "D";
    case "Z/D":
      return type === 2 || type === 3 ? "Z" : "D";
    case "X/Z/D":
      return type === 3 ? "X" : type === 2 ? "Z" : "D";
    case "X/Z/U*":
      return type === 3 ? "X" : type === 2 ? "Z" : "U";
    default:
      return action;
  }
}

/** Makes the editor `rewriteDataSet` calls for every element, top level and nested. */
export function makeEditor(ctx: DecideContext, top: DataSet) {
  const { bytes, profile } = ctx;
  const text = (el: Element) => stringValue(bytes, el, ctx.decoding);
  /** Private elements that stay, and how (`private.ts`); the others go. Filled by `index` below. */
  const privateActions = new Map<Element, PrivateDecision>();
  /** Sequences whose content is scrubbed (under a D or C); their descendants inherit it. */
  const scrubbed = new Set<DataSet>();
  /** Items of IDENTITY_CODES sequences under a D: their codes are scrubbed too. */
  const identityItems = new Set<DataSet>();
  /** A sequence whose items are scrubbed from now on. */
  const scrubItems = (el: Element) => {
    for (const item of el.items ?? []) {
      scrubbed.add(item);
      if (IDENTITY_CODES.has(el.tag)) identityItems.add(item);
    }
  };
  const overlayGone = !profile.options.includes("clean-graphics");

  const replace = (el: Element, v: string): Edit => ({ action: "replace", value: encodeText(el.vr, v) });
  const pseudonymId = (id: string) => ctx.pseudonyms?.get(id.trim()) ?? pseudonymizePatientId(ctx.key, id);
  const pseudonymName = () =>
    ctx.pseudonyms?.get(ctx.patientId.trim()) ??
      pseudonymizePatientName(ctx.key, ctx.patientId, ctx.patientNamePrefix);

  /** The patient's and accession's pseudonyms, whatever the action (D, or Z which allows a dummy). */
  const identity = (el: Element): Edit | undefined => {
    if (el.tag === T.PatientID) return replace(el, pseudonymId(el.length > 0 ? text(el) : ctx.patientId));
    if (el.tag === T.PatientName) return replace(el, pseudonymName());
    if (el.tag === T.AccessionNumber) {
      return el.length > 0 ? replace(el, pseudonymizeAccession(ctx.key, text(el))) : undefined;
    }
    return undefined;
  };

  const mapUids = (el: Element): Edit => {
    if (el.vr !== "UI" || el.length <= 0) return { action: "keep" };
    const values = text(el).split("\\").map((u) => (u.trim() ? pseudonymizeUid(ctx.key, u) : u));
    return replace(el, values.join("\\"));
  };

  const dummy = (el: Element): Edit => {
    const id = identity(el);
    if (id) return id;
    if (el.vr === "UI") return el.length > 0 ? mapUids(el) : replace(el, pseudonymizeUid(ctx.key, "dummy"));
    if (BINARY.has(el.vr)) return { action: "replace", value: new Uint8Array(Math.max(0, el.length)) };
    // Bytes (an Encapsulated Document, a signer's certificate, timestamps): zeros, their length kept (at least
    // one value of the VR). D is a value of non-zero length (PS3.15 Table E.1-1a); empty, a Type 1 attribute
    // such as Encapsulated Document made the object invalid (QA 2026-12-07).
    if (el.vr.startsWith("O") || el.vr === "UN") {
      return { action: "replace", value: new Uint8Array(el.length > 0 ? el.length : (WORD[el.vr] ?? 2)) };
    }
    return replace(el, DUMMY[el.vr] ?? "ANONYMOUS");
  };

  /** Retain Longitudinal Temporal Information with Modified Dates: what "modified" means per VR. */
  const shiftValue = (el: Element): Edit => {
    // The option decides, not one patient's shift: a shift of 0 days (a custom range from 0) still hides
    // the offsets from UTC and zeroes binary timestamps.
    if (!profile.shiftDates || el.length <= 0) return { action: "keep" };
    // A value that is no date this can move gets the dummy: never the original date, unmoved.
    if (el.vr === "DA") return replace(el, shiftedDate(text(el), ctx.shift) ?? DUMMY.DA);
    // Each value's date shifted (at its own precision), and its own offset from UTC (&ZZXX) dropped, as
    // Timezone Offset From UTC becomes +0000 below: an offset kept would tell the region, and would put this
    // value hours away from the object's times, which are now read in +0000.
    if (el.vr === "DT") {
      const values = text(el).split("\\").map((v) =>
        (shiftedDateTime(v, ctx.shift) ?? DUMMY.DT).replace(/[+-]\d{4}$/, "")
      );
      return replace(el, values.join("\\"));
    }
    // The offset from UTC would tell the region: times are read as UTC instead.
    if (el.tag === TIMEZONE_OFFSET) return replace(el, "+0000");
    // Binary timestamps (frame origin, certified timestamp) cannot be shifted: zeroed.
    if (BINARY.has(el.vr) || el.vr.startsWith("O")) {
      return { action: "replace", value: new Uint8Array(el.length) };
    }
    return { action: "keep" }; // TM: a shift of whole days leaves times as they are
  };

  const clean = (el: Element, option: OptionName | undefined, parent: DataSet | undefined): Edit => {
    if (el.items) {
      scrubItems(el);
      return { action: "keep" };
    }
    switch (option) {
      case "retain-long-modified-dates":
        return shiftValue(el);
      case "retain-device-identity":
        // AE titles and network names: a keyed label, the same for the same device everywhere.
        return el.length > 0 ? replace(el, pseudonymizeLabel(ctx.key, text(el))) : { action: "keep" };
      case "clean-graphics":
        // Overlay and curve data stay as graphics; their text goes.
        if (FREE_TEXT.has(el.vr)) return replace(el, NEUTRAL_TEXT);
        return { action: "keep" };
      default:
        void parent;
        if (FREE_TEXT.has(el.vr)) return replace(el, NEUTRAL_TEXT);
        // Code strings come from defined terms, not free text: they stay.
        if (el.vr === "CS") return { action: "keep" };
        return dummy(el);
    }
  };

  /** Inside a scrubbed sequence, elements the table does not name: words go, structure stays. */
  const scrub = (el: Element, parent: DataSet | undefined): Edit => {
    if (el.items) {
      scrubItems(el);
      return { action: "keep" };
    }
    if (isCodeAttribute(el.tag)) {
      if (!parent || !identityItems.has(parent)) return { action: "keep" };
      // A code that names a person or an institution: its words go (a URN value too); the structure stays.
      if (el.vr === "UR") return { action: "empty" };
    }
    if (FREE_TEXT.has(el.vr)) return el.length > 0 ? replace(el, NEUTRAL_TEXT) : { action: "keep" };
    if (el.vr === "PN") return el.length > 0 ? replace(el, "ANONYMOUS") : { action: "keep" };
    if (el.vr === "DA" || el.vr === "DT") return shiftValue(el);
    return { action: "keep" };
  };

  const apply = (action: Action, option: OptionName | undefined, el: Element, parent?: DataSet): Edit => {
    switch (action) {
      case "X":
        return { action: "remove" };
      case "Z":
        return identity(el) ?? { action: "empty" };
      case "D":
        if (el.items) {
          scrubItems(el);
          return { action: "keep" };
        }
        return dummy(el);
      case "U":
        return el.items ? { action: "keep" } : mapUids(el);
      case "C":
        return clean(el, option, parent);
      case "K":
        return { action: "keep" };
    }
  };

  /** What a private element gets: K, Z, D (on a sequence: kept and scrubbed), or removed when undecided. */
  const privateEdit = (decision: PrivateDecision | undefined, el: Element): Edit => {
    switch (decision?.action) {
      case "K":
        return { action: "keep" };
      case "Z":
        return { action: "empty" };
      case "D":
        if (el.items) {
          for (const item of el.items) scrubbed.add(item);
          return { action: "keep" };
        }
        // A given value, where the VR holds text (UN: written as text, its VR unknown; cut to the VR's length).
        if (decision!.value !== undefined && (el.vr === "UN" || TEXT_MAX[el.vr] !== undefined)) {
          return replace(el, decision!.value.slice(0, TEXT_MAX[el.vr] ?? 64));
        }
        // Sent as UN its VR is unknown, and bytes (OB, OW...) have no dummy: zeroed, their length kept.
        if (el.vr === "UN" || el.vr.startsWith("O")) {
          return { action: "replace", value: new Uint8Array(Math.max(0, el.length)) };
        }
        return dummy(el);
      default:
        return { action: "remove" };
    }
  };

  /**
   * Which item each element belongs to, so nested elements know whether they are scrubbed; standard
   * sequences sent as UN get their items parsed on the way, so that they are judged like any other.
   */
  const owner = new Map<Element, DataSet>();
  const index = (ds: DataSet) => {
    decidePrivate(bytes, ds, profile, privateActions);
    for (const el of ds.elements) {
      owner.set(el, ds);
      if (el.vr === "UN" && (el.tag >>> 16) % 2 === 0 && vrOf(el.tag) === "SQ") parseUnSequence(bytes, el);
      if (el.items) el.items.forEach(index);
    }
  };
  index(top);

  return (original: Element, path: number[]): Edit => {
    const group = original.tag >>> 16;
    // A standard attribute sent as UN is judged by its dictionary VR (its value bytes are the same); a
    // UN one whose dictionary VR is SQ and whose items could not be parsed cannot be judged: it goes.
    let el = original;
    if (original.vr === "UN" && group % 2 === 0) {
      const vr = vrOf(original.tag);
      if (vr === "SQ" && !original.items) return { action: "remove" };
      if (vr !== "UN") el = { ...original, vr };
    }
    if (group % 2 === 1) return privateEdit(privateActions.get(original), original);
    if (group === 0x0004 || group === 0x0002) return { action: "remove" };
    // Group lengths (retired) would no longer match their group once anything in it changes.
    if ((original.tag & 0xffff) === 0) return { action: "remove" };
    const rule = profile.rule(el.tag);
    if (
      overlayGone && path.length === 0 && ((group & 0xff00) === 0x6000 || (group & 0xff00) === 0x5000) &&
      !rule?.custom && profile.rule(((group << 16) | 0x3000) >>> 0)?.action === "X"
    ) {
      // Overlay Data and Curve Data are removed: the rest of their group goes with them (what the
      // custom layer names excepted: a kept curve keeps its group, a named element its action).
      if (!rule || rule.action === "X" || (group & 0xff00) === 0x5000) return { action: "remove" };
    }
    const parentItem = owner.get(original);
    const inScrubbed = parentItem ? scrubbed.has(parentItem) : false;
    if (!rule) {
      if (inScrubbed) return scrub(el, parentItem);
      // Clean Graphics keeps overlays as graphics; their description and label are words (the comments have
      // a row of their own).
      if (
        !overlayGone && path.length === 0 && (group & 0xff00) === 0x6000 &&
        OVERLAY_TEXT.has(original.tag & 0xffff) && el.length > 0
      ) return replace(el, NEUTRAL_TEXT);
      return { action: "keep" };
    }
    const action = resolveCombined(rule.action, profile.typeOf(el.tag, path[path.length - 1] ?? 0));
    // A custom D with a value: that text (its VR checked when the profile was read) instead of a dummy.
    const edit = action === "D" && rule.value !== undefined && !el.items
      ? replace(el, rule.value)
      : apply(action, rule.option, el, parentItem);
    // A kept or mapped sequence inside a scrubbed one stays scrubbed.
    if (inScrubbed && el.items) scrubItems(el);
    return edit;
  };
}
