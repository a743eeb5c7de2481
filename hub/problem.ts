/** HTTP errors as RFC 9457 problem objects (`application/problem+json`), for every route of the hub. */
import type { Context } from "hono";

const TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** A problem response; `headers` adds to it (a DICOMweb `Warning`, `Retry-After`, ...). */
export function problem(
  c: Context,
  status: number,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  return c.body(
    JSON.stringify({ type: "about:blank", title: TITLES[status] ?? "Error", status, detail }),
    status as 400,
    { ...headers, "content-type": "application/problem+json" },
  );
}
