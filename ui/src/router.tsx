/**
 * The console's router: one URL per screen, kept in the browser's history (Back, reload and shared
 * links work). `location()` is the current path and query; `navigate()` pushes (or replaces) an entry;
 * `<Link>` is an anchor that navigates without a page load and keeps modifier-clicks (new tab) as the
 * browser's. `match()` reads a route's parameters from the path.
 */
import { createSignal, type JSX, splitProps } from "solid-js";

export interface Location {
  pathname: string;
  search: URLSearchParams;
}

const read = (): Location => ({
  pathname: globalThis.location.pathname,
  search: new URLSearchParams(globalThis.location.search),
});

const [current, setCurrent] = createSignal<Location>(read());
globalThis.addEventListener("popstate", () => setCurrent(read()));

/** The current path and query (reactive). */
export const location = current;

/** Goes to `to` (a path with an optional query); `replace` changes the entry instead of adding one. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const here = globalThis.location.pathname + globalThis.location.search;
  if (to === here) return;
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
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
