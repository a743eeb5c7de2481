/**
 * Retain Safe Private (PS3.15 E.3.10): which private elements of a data set stay. A private element
 * (gggg,bbee) in an odd group belongs to the block its creator (gggg,00bb) reserved; it stays when the
 * safe list names that group, creator and element, and its creator element stays with it. Everything
 * else private goes. A kept private sequence is walked like any other: what it holds is judged on its
 * own merits.
 */
import { type DataSet, type Element, stringValue } from "@conduit/shared/dicom";

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, "0");

/** The key a safe list uses: `GGGG|CREATOR|EE`. */
function safeKey(group: number, creator: string, element: number): string {
  return `${hex(group, 4)}|${creator.trim().toUpperCase()}|${hex(element, 2)}`;
}

/** The private elements to keep, in the data set and every nested item. */
export function keptPrivate(
  bytes: Uint8Array,
  top: DataSet,
  safe: ReadonlyMap<string, string>,
): Set<Element> {
  const kept = new Set<Element>();
  const visit = (ds: DataSet) => {
    const creators = new Map<string, Element>();
    for (const el of ds.elements) {
      const group = el.tag >>> 16;
      const elem = el.tag & 0xffff;
      if (group % 2 === 1 && elem >= 0x0010 && elem <= 0x00ff) creators.set(`${group}|${elem}`, el);
    }
    for (const el of ds.elements) {
      const group = el.tag >>> 16;
      const elem = el.tag & 0xffff;
      if (group % 2 === 1 && elem >= 0x1000) {
        const creatorEl = creators.get(`${group}|${elem >>> 8}`);
        if (creatorEl && creatorEl.length > 0) {
          const creator = stringValue(bytes, creatorEl);
          if (safe.has(safeKey(group, creator, elem & 0xff))) {
            kept.add(el);
            kept.add(creatorEl);
          }
        }
      }
      if (el.items) el.items.forEach(visit);
    }
  };
  visit(top);
  return kept;
}
