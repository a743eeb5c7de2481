/**
 * Security headers on every answer of the hub: no framing (`X-Frame-Options: DENY` and CSP
 * `frame-ancestors 'none'`, against clickjacking of the console), no MIME sniffing, no referrer. The
 * console's files carry `CONSOLE_CSP` (its own scripts and styles only); everything else, being
 * data, `default-src 'none'`. A hub reached over https (its `publicUrl` is https, as behind a TLS proxy, or
 * the request came over https) also says `Strict-Transport-Security`, so that a browser never again
 * sends the session cookie or a password to it over plain http.
 */
import type { MiddlewareHandler } from "hono";

/** The console's policy: same-origin scripts, styles (inline style attributes too), images, calls. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/**
 * The viewer's policy (OHIF, hub/viewer.ts): its own scripts only, as the console, and nothing from
 * elsewhere, with what a prebuilt OHIF cannot do without:
 * - `'wasm-unsafe-eval'`: its image decoders (JPEG, JPEG-LS, JPEG 2000, HTJ2K) are WebAssembly;
 * - `'unsafe-eval'`: code that makes functions with `new Function`: the decoders' Emscripten bindings (in
 *   their workers, whose scripts carry this policy too: JPEG-LS, JPEG 2000 and 8-bit grey JPEG baseline
 *   images stayed black without it) and ndarray in the page (a SEG does not load without it);
 * - `worker-src blob:`: decoding and volume workers are started from blob URLs;
 * - `style-src 'unsafe-inline'`: React and its UI kit set styles inline and inject style elements
 *   (styles only: scripts stay same-origin files, never inline);
 * - `img-src`/`connect-src blob:` and `data:`: rendered canvases, icons and downloads as blob and data
 *   URLs.
 * - `object-src 'self' blob:` and `frame-src blob:`: an encapsulated PDF is shown in an `<object>` on a
 *   blob URL (empty at first, which counts as the page's own origin) that Chromium's PDF viewer frames.
 * Framing stays forbidden.
 */
export const VIEWER_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval' 'unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self' data: blob:",
  "media-src 'self' blob:",
  "object-src 'self' blob:",
  "frame-src blob:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const DATA_CSP = "default-src 'none'; frame-ancestors 'none'";

/** HSTS: a year, for the hub's own host name only (other hosts of the domain are not the hub's to decide). */
export const HSTS = "max-age=31536000";

export function securityHeaders({ publicUrl }: { publicUrl?: string } = {}): MiddlewareHandler {
  // As the session cookie's Secure flag (auth/routes.ts): the public URL decides, else the request's scheme.
  const publicHttps = publicUrl ? new URL(publicUrl).protocol === "https:" : undefined;
  return async (c, next) => {
    await next();
    // A WebSocket upgrade (the agents' tunnel) is left as Deno made it.
    if (c.res.status === 101) return;
    const h = c.res.headers;
    h.set("x-frame-options", "DENY");
    h.set("x-content-type-options", "nosniff");
    h.set("referrer-policy", "no-referrer");
    if (!h.has("content-security-policy")) h.set("content-security-policy", DATA_CSP);
    if (publicHttps ?? new URL(c.req.url).protocol === "https:") h.set("strict-transport-security", HSTS);
  };
}
