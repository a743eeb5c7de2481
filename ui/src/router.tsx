/**
 * The console's router: one URL per screen, kept in the browser's history (Back, reload and shared
 * links work). `location()` is the current path and query; `navigate()` pushes (or replaces) an entry;
 * `<Link>` is an anchor that navigates without a page load and keeps modifier-clicks (new tab) as the
 * browser's. `match()` reads a route's parameters from the path.
 */
import { createSignal, type JSX, splitProps } from "solid-js";
import { leave, type Place, placeOf } from "./history_place.ts";

export interface Location {
  pathname: string;
  search: URLSearchParams;
}

const read = (): Location => ({
  pathname: globalThis.location.pathname,
  search: new URLSearchParams(globalThis.location.search),
});

const [current, setCurrent] = createSignal<Location>(read());
/** Where the user was on the screen Back or Forward returns to (history_place.ts), until it is used. */
let returning: Place | undefined;
globalThis.addEventListener("popstate", (e) => {
  returning = placeOf(e.state);
  setCurrent(read());
});
// The console puts the scroll back itself, once a list returned to is drawn again.
if ("scrollRestoration" in history) history.scrollRestoration = "manual";

/** The current path and query (reactive). */
export const location = current;

/** The place kept for the entry Back or Forward just returned to, once (then undefined). */
export function takeReturningPlace(): Place | undefined {
  const place = returning;
  returning = undefined;
  return place;
}

/** Goes to `to` (a path with an optional query); `replace` changes the entry instead of adding one. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const here = globalThis.location.pathname + globalThis.location.search;
  if (to === here) return;
  returning = undefined;
  if (options.replace) history.replaceState(history.state, "", to);
  else {
    leave();
    history.pushState(null, "", to);
  }
  setCurrent(read());
  if (!options.replace) globalThis.scrollTo?.(0, 0);
}

export { match } from "./route_match.ts";

/** A path from segments, each encoded: `path("studies", site, uid)`. */
export function path(...segments: string[]): string {
  return "/" + segments.map(encodeURIComponent).join("/");
}

/** An anchor that navigates inside the console; ctrl-, shift- or middle-clicks stay the browser's. */
export function Link(props: JSX.AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const [local, rest] = splitProps(props, ["href", "onClick"]);
  return (
    <a
      href={local.href}
      onClick={(e) => {
        if (typeof local.onClick === "function") local.onClick(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(local.href);
      }}
      {...rest}
    />
  );
}
