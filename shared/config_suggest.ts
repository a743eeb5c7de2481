/**
 * "Did you mean": for a key the configuration does not know, the known key at the same place that it
 * most likely misspells (one or two letters off, or another case), found in the zod schema itself.
 */
import { z } from "zod";

/** The keys a schema accepts at `path` (array indexes step into the element), or none. */
export function keysAt(schema: z.ZodTypeAny, path: (string | number)[]): string[] {
  let node: z.ZodTypeAny | undefined = unwrap(schema);
  for (const [i, step] of path.entries()) {
    // A union (one window or a list of them): the keys of whichever of its options the path goes on in.
    if (node instanceof z.ZodUnion) {
      const options = node.options as z.ZodTypeAny[];
      return options.map((o) => keysAt(o, path.slice(i))).find((keys) => keys.length) ?? [];
    }
    if (node instanceof z.ZodObject) node = unwrap((node.shape as Record<string, z.ZodTypeAny>)[step]);
    else if (node instanceof z.ZodArray) node = unwrap(node.element);
    else if (node instanceof z.ZodRecord) node = unwrap(node.valueSchema);
    else return [];
    if (!node) return [];
  }
  if (node instanceof z.ZodUnion) {
    return (node.options as z.ZodTypeAny[]).map((o) => keysAt(o, [])).find((keys) => keys.length) ?? [];
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

function unwrap(schema: z.ZodTypeAny | undefined): z.ZodTypeAny | undefined {
  let s = schema;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
      s = s._def.innerType;
    } else if (s instanceof z.ZodEffects) s = s._def.schema;
    else return s;
  }
}

/** The known key `unknown` most likely meant: the same but for case, or at most two edits away. */
export function closestKey(unknown: string, known: string[]): string | undefined {
  const lower = unknown.toLowerCase();
  const sameCase = known.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  let best: string | undefined;
  let bestDistance = Math.min(2, Math.max(1, Math.floor(unknown.length / 2)));
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d <= bestDistance && (best === undefined || d < bestDistance)) [best, bestDistance] = [k, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
