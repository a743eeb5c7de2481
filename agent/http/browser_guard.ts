/**
 * Keeps web pages out of the agent's HTTP API. The API has no authentication: whoever reaches it may erase
 * studies, discard the dead letter or send objects to a node. Loopback keeps other machines out, not a
 * browser on the agent's own machine: a page of any site may POST to `http://127.0.0.1:8181/erase` with a
 * `text/plain` body (no CORS preflight is asked for that), or reach the API under its own name through DNS
 * rebinding and read the answers. The agent's CLI, curl and Prometheus send neither an `Origin` nor a
 * `Sec-Fetch-Site` header and name the agent by address, so this refuses (403, a JSON `error`, nothing done):
 * - a request with an `Origin` header (browsers send it on every POST, cross-origin or not), or with
 *   `Sec-Fetch-Site` other than `none` (a page's request; `none` is an address typed into the browser);
 * - a request whose `Host` is a name other than `localhost` (or `*.localhost`) or the configured `http.host`:
 *   an IP address is taken, a DNS name is what a rebinding attack brings.
 */
import type { MiddlewareHandler } from "hono";

function isIpLiteral(host: string): boolean {
  return host.startsWith("[") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

/** Why the request is refused, or undefined when it may go on. */
export function browserRefusal(
  headers: { get(name: string): string | null },
  url: string,
  listenHost: string,
): string | undefined {
  const origin = headers.get("origin");
  if (origin !== null) {
    return `the agent's HTTP API takes no requests from web pages (Origin: ${origin.slice(0, 100)}): ` +
      "call it from the agent's machine with the agent's CLI or curl";
  }
  const site = headers.get("sec-fetch-site");
  if (site !== null && site !== "none") {
    return `the agent's HTTP API takes no requests from web pages (Sec-Fetch-Site: ${site.slice(0, 20)}): ` +
      "call it from the agent's machine with the agent's CLI or curl";
  }
  const host = new URL(url).hostname.toLowerCase();
  const allowed = isIpLiteral(host) || host === "localhost" || host.endsWith(".localhost") ||
    host === listenHost.toLowerCase();
  if (!allowed) {
    return `the agent's HTTP API answers only under an IP address, localhost or http.host (${listenHost}), ` +
      `not the name ${host.slice(0, 100)}: call it as http://127.0.0.1:<http.port>/`;
  }
  return undefined;
}

/** The middleware: 403 with the reason for a request from a web page (see the module's comment). */
export function browserGuard(listenHost: string): MiddlewareHandler {
  return async (c, next) => {
    const refused = browserRefusal(c.req.raw.headers, c.req.url, listenHost);
    if (refused) return c.json({ error: refused }, 403);
    await next();
  };
}
