/**
 * How many presentation contexts an association holds, and objects grouped to fit: in a module without
 * the DICOM library, so that callers that plan (node retrieves, C-MOVE) load nothing heavy at the agent's
 * start (scu.ts and _propose.ts load dcmjs-dimse, on first use).
 */

/** The most presentation contexts one A-ASSOCIATE-RQ can hold (odd IDs 1 to 255). */
export const MAX_CONTEXTS = 128;

/**
 * Objects to send split into groups that each fit one association: at most `max` distinct (SOP class,
 * transfer syntax) pairs per group, pairs in the order they first appear, objects in their order within
 * a group. One group when they fit (the usual case); a C-MOVE or a send spanning more pairs goes over one
 * association per group instead of being refused. (The little endian fallbacks of `storage` are added
 * room permitting, so they never push a group over.)
 */
export function storageGroups<T extends { sopClassUid: string; transferSyntax: string }>(
  items: T[],
  max = MAX_CONTEXTS,
): T[][] {
  const groupOf = new Map<string, number>();
  const groups: T[][] = [];
  for (const item of items) {
    const key = `${item.sopClassUid}|${item.transferSyntax}`;
    let g = groupOf.get(key);
    if (g === undefined) {
      g = Math.floor(groupOf.size / max);
      groupOf.set(key, g);
    }
    (groups[g] ??= []).push(item);
  }
  return groups;
}
