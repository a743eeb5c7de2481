/**
 * Private attributes (odd groups): which stay, and how. A private element (gggg,bbee) belongs to the block
 * its creator (gggg,00bb) reserved in the same data set or item; it is judged by that creator's text
 * (trimmed), never by its position alone:
 *
 * 1. the custom layer's action for that creator's element, else for that creator's whole block;
 * 2. else, under Retain Safe Private (PS3.15 E.3.10), K when the safe list names group, creator and element;
 * 3. else it goes, as does every private element without a creator.
 *
 * A creator element stays when any element of its block stays. A kept private sequence is walked like any
 * other: what it holds is judged on its own merits; one sent as UN has its items parsed so that they can
 * be, and goes when they cannot be parsed.
 */
import { type DataSet, type Element, parseUnSequence, stringValue } from "@conduit/shared/dicom";
import type { DeidProfile, PrivateActionCode } from "./profile.ts";

/** What a private element that stays gets: its action, and a D's replacement value. */
export interface PrivateDecision {
  action: PrivateActionCode;
  value?: string;
}

const KEEP: PrivateDecision = { action: "K" };

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, "0");

/** The key a safe list uses: `GGGG|CREATOR|EE`. */
function safeKey(group: number, creator: string, element: number): string {
  return `${hex(group, 4)}|${creator.toUpperCase()}|${hex(element, 2)}`;
}

/** A creator's text as the profile compares it: trimmed of spaces and NUL padding. */
export function creatorText(bytes: Uint8Array, el: Element): string {
  return stringValue(bytes, el).replace(/\0+$/, "").trim();
}

/** An item tag (FFFE,E000) in little endian: a value sent as UN that starts so holds a sequence's items. */
function startsWithItem(bytes: Uint8Array, el: Element): boolean {
  const at = el.valueOffset;
  return el.length >= 8 && bytes[at] === 0xfe && bytes[at + 1] === 0xff && bytes[at + 2] === 0x00 &&
    bytes[at + 3] === 0xe0;
}

/**
 * Decides the private elements of one data set (not its items: the caller visits those) into `out`:
 * element -> action for those that stay (creators: K), absent for those that go.
 */
export function decidePrivate(
  bytes: Uint8Array,
  ds: DataSet,
  profile: Pick<DeidProfile, "safePrivate" | "privateAction">,
  out: Map<Element, PrivateDecision>,
): void {
  const { safePrivate, privateAction } = profile;
  if (!safePrivate && !privateAction) return;
  let creators: Map<number, Element> | undefined;
  for (const el of ds.elements) {
    const group = el.tag >>> 16;
    const elem = el.tag & 0xffff;
    if (group % 2 === 1 && elem >= 0x0010 && elem <= 0x00ff) (creators ??= new Map()).set(el.tag, el);
  }
  if (!creators) return;
  const texts = new Map<Element, string>();
  for (const el of ds.elements) {
    const group = el.tag >>> 16;
    const elem = el.tag & 0xffff;
    if (group % 2 === 0 || elem < 0x1000) continue;
    const creatorEl = creators.get(((group << 16) | (elem >>> 8)) >>> 0);
    if (!creatorEl || creatorEl.length <= 0) continue;
    let creator = texts.get(creatorEl);
    if (creator === undefined) texts.set(creatorEl, creator = creatorText(bytes, creatorEl));
    if (!creator) continue;
    const decision: PrivateDecision | undefined = privateAction?.(group, creator, elem & 0xff) ??
      (safePrivate?.has(safeKey(group, creator, elem & 0xff)) ? KEEP : undefined);
    if (!decision || decision.action === "X") continue;
    const action = decision.action;
    // A sequence sent as UN (implicit VR, or an unknown VR): its items are parsed so that they can be
    // judged; a value that looks like items but does not parse cannot be judged, and goes.
    if (action !== "Z" && !el.items && el.vr === "UN" && startsWithItem(bytes, el)) {
      if (!parseUnSequence(bytes, el)) continue;
    }
    out.set(el, decision);
    out.set(creatorEl, KEEP);
  }
}
