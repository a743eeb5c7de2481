/**
 * CORS for `/dicomweb` only (`dicomweb.cors` in the hub's configuration), so that a viewer served from
 * another origin (an OHIF deployment, a research web app) can use the hub's DICOMweb with an API token:
 * - a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here, before
 *   authentication (a browser sends no credentials with it): 204 with the methods and request headers
 *   DICOMweb uses for an allowed origin, else 403 (a problem object without any CORS header, which the
 *   browser reports as a refused preflight);
 * - every other answer under `/dicomweb` to an allowed origin, errors included (401, 403, 404, 406...),
 *   carries `Access-Control-Allow-Origin: <that origin>` and the headers a viewer reads
 *   (`Access-Control-Expose-Headers`), so that it can read a problem as well as a result.
 * Never `Access-Control-Allow-Credentials`: a page of another origin cannot use the console's session
 * cookie (its browser withholds the answer), only a bearer token it holds. `/trpc`, `/auth`, the viewer and
 * the console send no CORS headers whatever the configuration. Off (no header at all) when no origin is
 * configured.
 */
import type { MiddlewareHandler } from "hono";
import type { Logger } from "@conduit/shared/log";
import { problem } from "../problem.ts";

export interface CorsOptions {
  /** Exact origins (`https://viewer.example`, `http://10.0.0.5:3000`), or `["*"]` for any. */
  origins: string[];
  /** How long a browser may keep a preflight's answer (`Access-Control-Max-Age`). */
  maxAgeSeconds: number;
}

/** The methods the hub's DICOMweb answers (HEAD as GET; POST for STOW-RS). */
export const CORS_METHODS = ["GET", "HEAD", "POST", "DELETE"];

/**
 * The request headers a cross-origin DICOMweb client may send: its token, what it accepts, a STOW-RS
 * body's type (`multipart/related; ...` is not one a browser sends without a preflight).
 */
export const CORS_REQUEST_HEADERS = ["Authorization", "Accept", "Content-Type", "Cache-Control"];

/**
 * The answer headers a viewer may read besides the CORS-safelisted ones: a retrieval's type and length,
 * a zip's file name, PS3.18's `Warning` (a federated 404 names the sites it could not ask), the
 * challenge of a 401, the `Allow` of a 405, when to try again after a 503.
 */
export const CORS_EXPOSED_HEADERS = [
  "Content-Type",
  "Content-Length",
  "Content-Location",
  "Content-Disposition",
  "Warning",
  "ETag",
  "Last-Modified",
  "Location",
  "Retry-After",
  "WWW-Authenticate",
  "Allow",
];

/** Adds `value` to a response's `Vary` unless it is there. */
function vary(headers: Headers, value: string): void {
  const now = headers.get("vary");
  if (!now) return headers.set("vary", value);
  const have = now.split(",").map((v) => v.trim().toLowerCase());
  if (!have.includes(value.toLowerCase()) && !have.includes("*")) headers.set("vary", `${now}, ${value}`);
}

/**
 * The middleware of `/dicomweb` (and `/dicomweb/*`); undefined when `options` allows no origin, so that
 * a hub without the setting answers exactly as before.
 */
export function dicomwebCors(
  options: CorsOptions | undefined,
  log?: Logger,
): MiddlewareHandler | undefined {
  if (!options || options.origins.length === 0) return undefined;
  const any = options.origins.includes("*");
  const allowed = new Set(options.origins);
  const isAllowed = (origin: string) => any || allowed.has(origin);
  return async (c, next) => {
    const origin = c.req.header("origin");
    const preflight = c.req.method === "OPTIONS" && origin !== undefined &&
      c.req.header("access-control-request-method") !== undefined;
    if (preflight) {
      if (!isAllowed(origin)) {
        // At debug: a viewer that is not listed preflights every call. Its origin only, not the path (UIDs).
        log?.debug("CORS preflight refused: origin not in dicomweb.cors.origins", {
          origin: origin.slice(0, 200),
        });
        const res = problem(
          c,
          403,
          `origin ${JSON.stringify(origin.slice(0, 200))} may not use this hub's DICOMweb ` +
            "(dicomweb.cors.origins in the hub's configuration)",
        );
        vary(res.headers, "Origin");
        return res;
      }
      const headers = new Headers({
        "access-control-allow-origin": origin,
        "access-control-allow-methods": CORS_METHODS.join(", "),
        "access-control-allow-headers": CORS_REQUEST_HEADERS.join(", "),
        "access-control-max-age": String(options.maxAgeSeconds),
      });
      // Chromium's Private Network Access: a public page asking a hub on a private address. The operator
      // allowed this origin, so it may.
      if (c.req.header("access-control-request-private-network") === "true") {
        headers.set("access-control-allow-private-network", "true");
      }
      vary(headers, "Origin");
      vary(headers, "Access-Control-Request-Method");
      vary(headers, "Access-Control-Request-Headers");
      return c.body(null, 204, Object.fromEntries(headers));
    }
    await next();
    // A WebSocket upgrade is not among these answers; nothing else under /dicomweb is left alone.
    if (c.res.status === 101) return;
    const h = c.res.headers;
    // Every answer depends on Origin, allowed or not: a cache must not give one origin's to another.
    vary(h, "Origin");
    if (origin === undefined || !isAllowed(origin)) return;
    h.set("access-control-allow-origin", origin);
    h.set("access-control-expose-headers", CORS_EXPOSED_HEADERS.join(", "));
    h.delete("access-control-allow-credentials");
  };
}

/**
 * The CORS of `/dicomweb` as a configuration reload (SIGHUP) may change it: `middleware` is installed once
 * and answers as {@link dicomwebCors} would with the options set last (nothing at all while they allow no
 * origin); `set` takes effect from the next request.
 */
export function reloadableCors(
  options: CorsOptions | undefined,
  log?: Logger,
): { middleware: MiddlewareHandler; set(options: CorsOptions | undefined): void } {
  let current = dicomwebCors(options, log);
  return {
    middleware: (c, next) => current ? current(c, next) : next(),
    set: (next) => current = dicomwebCors(next, log),
  };
}
