/**
 * A screen's name from its path, as its heading, the browser tab's title and what a screen reader hears
 * when the console goes to it: `/sites/north` is "Site north". No patient data: a study is named by its
 * site only (the title lands in the browser's history).
 */
import { match } from "./route_match.ts";

const SCREENS: [string, (p: Record<string, string>) => string][] = [
  ["/", () => "Dashboard"],
  ["/explorer", () => "Explorer"],
  ["/studies/:site/:uid", (p) => `Study at ${p.site}`],
  ["/transfers", () => "Transfers"],
  ["/transfers/:id", (p) => `Transfer ${p.id}`],
  ["/sites", () => "Sites"],
  ["/sites/:name", (p) => `Site ${p.name}`],
  ["/batch", () => "Batch"],
  ["/admin", () => "Admin"],
];

/** The name of the screen at `pathname` ("Nothing here" for a path the console has no screen for). */
export function screenName(pathname: string): string {
  for (const [pattern, name] of SCREENS) {
    const params = match(pattern, pathname);
    if (params) return name(params);
  }
  return "Nothing here";
}

/** The browser tab's title for `name`. */
export const pageTitle = (name: string): string => `${name} · Conduit`;
