/**
 * `--hub` (`hub.url`) names one hub's tunnel URL or several, comma-separated (the hubs of a cluster,
 * tried in order).
 */

/** The tunnel URLs in `value`, in order, blanks dropped. */
export function hubUrls(value: string | undefined): string[] {
  return (value ?? "").split(",").map((u) => u.trim()).filter(Boolean);
}

/** Why `value` is not a list of ws:// or wss:// URLs, or undefined when it is. */
export function hubUrlsProblem(value: string): string | undefined {
  const urls = hubUrls(value);
  if (!urls.length) return "give the hub's tunnel URL (wss://HUB/tunnel), or several separated by commas";
  for (const u of urls) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      return `${JSON.stringify(u)} is not a URL`;
    }
    if (!["ws:", "wss:", "http:", "https:"].includes(parsed.protocol)) {
      return `${JSON.stringify(u)}: use a wss:// (or ws://) tunnel URL`;
    }
    // The hub's tunnel is at /tunnel under its base: a bare host (the console's address) reaches nothing
    // the agent can use, and would fail every enrollment and connection with a 404.
    if (parsed.pathname === "/") {
      const fixed = `${u.replace(/\/+$/, "")}/tunnel`;
      return `${JSON.stringify(u)}: the hub's tunnel URL ends in /tunnel (${fixed})`;
    }
  }
  return undefined;
}
