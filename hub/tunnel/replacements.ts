/**
 * A site whose sessions keep replacing each other. One replacement is an agent that reconnected before the hub
 * saw its old socket die; several within minutes are two agents holding the same site credential (a copied
 * data directory, or a credential taken from the site), each connecting in turn and pushing the other out.
 * The hub cannot tell which agent is the site's, so it says so, once a window, for an operator to act on.
 */

/** Replacements of one site's session within the window that make it a warning. */
export const REPLACEMENTS_WARN_AT = 3;
/** The window, and the least time between two warnings for one site. */
export const REPLACEMENTS_WINDOW_MS = 10 * 60_000;

export class ReplacementWatch {
  readonly #seen = new Map<string, { at: number[]; warnedAt?: number }>();

  /**
   * Records that `site`'s session was replaced at `now`; returns how many replacements the window holds when
   * that calls for a warning now (the first time it reaches the threshold, then at most once a window).
   */
  replaced(site: string, now = Date.now()): number | undefined {
    const entry = this.#seen.get(site) ?? { at: [] };
    entry.at = [...entry.at.filter((t) => now - t < REPLACEMENTS_WINDOW_MS), now];
    this.#seen.set(site, entry);
    if (entry.at.length < REPLACEMENTS_WARN_AT) return undefined;
    if (entry.warnedAt !== undefined && now - entry.warnedAt < REPLACEMENTS_WINDOW_MS) return undefined;
    entry.warnedAt = now;
    return entry.at.length;
  }
}
