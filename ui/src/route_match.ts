/** Route matching without the browser: usable by the router and by modules tested under Deno. */

/**
 * The parameters of `pattern` (segments like `:site`) in `pathname`, decoded, or undefined when it
 * does not match. `/studies/:site/:uid` matches `/studies/north/1.2.3`.
 */
export function match(pattern: string, pathname: string): Record<string, string> | undefined {
  const want = pattern.split("/").filter(Boolean);
  const got = pathname.replace(/\/+$/, "").split("/").filter(Boolean);
  if (want.length !== got.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    if (want[i].startsWith(":")) {
      try {
        params[want[i].slice(1)] = decodeURIComponent(got[i]);
      } catch {
        return undefined;
      }
    } else if (want[i] !== got[i]) return undefined;
  }
  return params;
}
