/**
 * What every DICOMweb route shares: errors as problem objects (with a `Warning` header where PS3.18
 * asks for one), the base URL links are built on (`publicUrl`, trusted `X-Forwarded-*`, or the
 * request), and the UID-path segments.
 */
import type { Context } from "hono";
import { problem as problemResponse } from "../problem.ts";
import { quoted } from "@conduit/shared/quote";

export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: number, message: string, readonly warning?: string) {
    super(message);
  }
}

/** A problem object, with a `Warning` header where PS3.18 asks for one. */
export function problem(c: Context, status: number, detail: string, warning?: string): Response {
  return problemResponse(c, status, detail, warning ? { warning } : {});
}

/** A `Warning` header value (RFC 7234 299 form, as PS3.18 uses it). */
export function warning(text: string): string {
  return `299 conduit "${text.replace(/"/g, "'")}"`;
}

/**
 * What the client accepts: the `accept` query parameter when given (PS3.18 8.3.3.1: it wins over the
 * header, so that a plain link can ask), else the Accept header. A `+` left unencoded in the query
 * (`accept=application/dicom+json`) reads as a space there; one between two token characters is put back,
 * since no media type holds a space.
 */
export function acceptOf(c: Context): string | undefined {
  return c.req.query("accept")?.replace(/(?<=[\w.*-]) (?=[\w.*-])/g, "+") ?? c.req.header("accept");
}

export interface UrlOptions {
  publicUrl?: string;
  trustForwarded: boolean;
}

/** Where clients reach the hub, for RetrieveURL and BulkDataURI. */
export function baseUrl(c: Context, o: UrlOptions): string {
  if (o.publicUrl) return o.publicUrl.replace(/\/$/, "");
  const url = new URL(c.req.url);
  if (o.trustForwarded) {
    const proto = c.req.header("x-forwarded-proto")?.split(",")[0].trim();
    const host = c.req.header("x-forwarded-host")?.split(",")[0].trim();
    const prefix = c.req.header("x-forwarded-prefix")?.split(",")[0].trim().replace(/\/$/, "") ?? "";
    if (host) return `${proto ?? url.protocol.replace(":", "")}://${host}${prefix}`;
  }
  return url.origin;
}

/** The path of a site's (or node's) DICOMweb root under the hub. */
export function sitePath(site: string, node?: string): string {
  return `/dicomweb/sites/${encodeURIComponent(site)}${node ? `/nodes/${encodeURIComponent(node)}` : ""}`;
}

const UID = /^[0-9]+(\.[0-9]+)*$/;

/** Whether `value` has the form of a DICOM UID: digits separated by dots, at most 64 characters. */
export const isUid = (value: string): boolean => UID.test(value) && value.length <= 64;

export function checkUid(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!isUid(value)) {
    throw new HttpError(400, `${name} ${quoted(value)} is not a UID`);
  }
  return value;
}
