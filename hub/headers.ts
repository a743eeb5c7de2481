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
