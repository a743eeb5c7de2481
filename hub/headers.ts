/**
 * Security headers on every answer of the hub: no framing (`X-Frame-Options: DENY` and CSP
 * `frame-ancestors 'none'`, against clickjacking of the console), no MIME sniffing, no referrer. The
 * console's files carry `CONSOLE_CSP` (its own scripts and styles only); everything else, being
 * data, `default-src 'none'`.
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
 * - `worker-src blob:`: decoding and volume workers are started from blob URLs;
 * - `style-src 'unsafe-inline'`: React and its UI kit set styles inline and inject style elements
 *   (styles only: scripts stay same-origin files, never inline);
 * - `img-src`/`connect-src blob:` and `data:`: rendered canvases, icons and downloads as blob and data
 *   URLs.
 * Framing stays forbidden.
 */
export const VIEWER_CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self' data: blob:",
  "media-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const DATA_CSP = "default-src 'none'; frame-ancestors 'none'";

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // A WebSocket upgrade (the agents' tunnel) is left as Deno made it.
    if (c.res.status === 101) return;
    const h = c.res.headers;
    h.set("x-frame-options", "DENY");
    h.set("x-content-type-options", "nosniff");
    h.set("referrer-policy", "no-referrer");
    if (!h.has("content-security-policy")) h.set("content-security-policy", DATA_CSP);
  };
}
