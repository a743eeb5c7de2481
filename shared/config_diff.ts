/**
 * What a configuration read again (SIGHUP) changes against the one in force, for both programs
 * (agent/config/reload.ts, hub/config_reload.ts): pure, no I/O.
 */

/** Whether two validated configuration values are the same (plain data: JSON compares them). */
export const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The dotted keys under which `a` and `b` differ, down to `depth` levels (a whole map or list below that is
 * one key), prefixed with `prefix`.
 */
export function differing(a: unknown, b: unknown, prefix: string, depth: number): string[] {
  if (sameValue(a, b)) return [];
  if (depth === 0 || !isMap(a) || !isMap(b)) return [prefix];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.flatMap((k) => differing(a[k], b[k], prefix ? `${prefix}.${k}` : k, depth - 1));
}

/**
 * Which of the keys a reload finds waiting for a restart to say again: the file's restart-only settings
 * (`view`: the configuration without its reloadable keys) are kept at each reload that says which wait, and
 * a key is said again only when the file's value differs from the one the last reload read. A file put back
 * to the value in force, then changed again, is a new change. One per running program.
 */
export class RestartNotices {
  #last: unknown;
  #read = false;

  /** The keys of `waiting` (from {@link differing} at `depth`) not said with this value already. */
  toSay(waiting: string[], view: unknown, depth = 2): string[] {
    const changed = this.#read ? new Set(differing(this.#last, view, "", depth)) : undefined;
    this.#last = view;
    this.#read = true;
    return changed ? waiting.filter((key) => changed.has(key)) : waiting;
  }
}
