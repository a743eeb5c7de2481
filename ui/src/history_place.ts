/**
 * Where the user was on a screen they left by a link (the link, or its table row, and how far down the
 * page they had scrolled), kept in that screen's history entry, so that Back to it puts the keyboard's
 * focus back on that link, not on the screen's heading, and scrolls where they were, once the list is drawn
 * again. A list's sort, filters and page are in its URL, so Back shows them again by itself.
 */

/** What `leave` keeps in the history entry's state. */
export interface Place {
  /** The followed link's href, and its name (two links of a row may go to the same place). */
  href?: string;
  name?: string;
  /** A selector of its table row (`tr[data-transfer="..."]`), when it sat in one. */
  row?: string;
  scrollY: number;
}

/** The row attributes that identify a row (table.tsx's `row`), as a selector. */
function rowSelector(el: Element): string | undefined {
  const tr = el.closest("tr");
  const keys = tr ? [...tr.attributes].filter((a) => a.name.startsWith("data-")) : [];
  return keys.length ? "tr" + keys.map((a) => `[${a.name}="${CSS.escape(a.value)}"]`).join("") : undefined;
}

/** A link's name: its aria-label, else its text. */
const nameOf = (a: Element) => a.getAttribute("aria-label") ?? a.textContent?.trim() ?? "";

/** Called before another screen's entry is pushed: keeps the focused link (or row) and the scroll. */
export function leave(): void {
  const el = document.activeElement;
  const link = el instanceof HTMLAnchorElement ? el : undefined;
  const place: Place = {
    ...(link ? { href: link.getAttribute("href") ?? undefined, name: nameOf(link) } : {}),
    ...(el && el !== document.body ? { row: rowSelector(el) } : {}),
    scrollY: globalThis.scrollY,
  };
  history.replaceState({ ...(history.state ?? {}), place }, "");
}

/** The place kept in a history entry's state, if any. */
export function placeOf(state: unknown): Place | undefined {
  const place = (state as { place?: Place } | null)?.place;
  return place && typeof place.scrollY === "number" ? place : undefined;
}

/**
 * Once the screen under `main` draws the link (or its row: its first link or button) kept in `place`,
 * within `ms`: the focus goes there and the page scrolls back, unless the user moved the focus meanwhile
 * (it is on `main` until then). Returns a function that stops waiting.
 */
export function restore(place: Place, main: HTMLElement, ms = 10_000): () => void {
  const find = (): HTMLElement | undefined => {
    if (place.href) {
      const links = [...main.querySelectorAll<HTMLAnchorElement>("a[href]")]
        .filter((a) => a.getAttribute("href") === place.href);
      const link = links.find((a) => nameOf(a) === place.name) ?? links[0];
      if (link) return link;
    }
    const row = place.row ? main.querySelector(place.row) : null;
    return row?.querySelector<HTMLElement>("a[href], button:not([disabled])") ?? undefined;
  };
  const stop = () => (observer.disconnect(), clearTimeout(timer));
  const attempt = () => {
    const target = find();
    if (!target) return;
    stop();
    if (document.activeElement !== main && document.activeElement !== document.body) return;
    target.focus({ preventScroll: true });
    globalThis.scrollTo(0, place.scrollY);
  };
  const observer = new MutationObserver(attempt);
  const timer = setTimeout(stop, ms);
  observer.observe(main, { childList: true, subtree: true });
  attempt();
  return stop;
}
