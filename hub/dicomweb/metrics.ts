/**
 * DICOMweb requests as the hub's metrics count them (hub/metrics.ts): each request's kind, read from its
 * method and path (under any root: `/dicomweb`, `/dicomweb/sites/{site}`, `.../nodes/{node}`), its status
 * class, the time to its answer's headers, and the bytes of its body as they leave. A path that names no
 * DICOMweb resource is `other`: no label ever holds a path, a UID, a site or a token.
 */
import type { MiddlewareHandler } from "hono";
import type { HubMetrics } from "../metrics.ts";

export const DICOMWEB_KINDS = [
  "qido",
  "wado",
  "metadata",
  "frames",
  "bulkdata",
  "rendered",
  "thumbnail",
  "stow",
  "delete",
  "other",
] as const;
export type DicomwebKind = typeof DICOMWEB_KINDS[number];

/** Kinds whose body is a retrieval worth timing to its end (the objects, frames or bulk data). */
const STREAMED: ReadonlySet<DicomwebKind> = new Set(["wado", "frames", "bulkdata"]);

const UID = "[0-9.]+";
/** A resource path under a root: studies, series, instances, and what follows an instance or a level. */
const RESOURCE = new RegExp(
  `^(?:/studies(?:/${UID}(?:/series(?:/${UID}(?:/instances(?:/${UID})?)?)?|/instances)?)?` +
    `|/series|/instances)` +
    `(/metadata|/rendered|/thumbnail|/frames/[^/]+(?:/rendered|/thumbnail)?|/bulkdata/.+)?$`,
);
/** A root: the federated one, a site's, a node's (names as the tunnel carries them). */
const ROOT = /^(?:\/dicomweb)?(?:\/sites\/[^/]+(?:\/nodes\/[^/]+)?)?/;

/** The kind of a DICOMweb request, from its method and its path (with or without `/dicomweb`). */
export function dicomwebKind(method: string, path: string): DicomwebKind {
  const rest = path.replace(ROOT, "");
  const m = RESOURCE.exec(rest);
  if (!m) return "other";
  const suffix = m[1] ?? "";
  if (method === "DELETE") return "delete";
  if (method === "POST") return "stow";
  if (method !== "GET" && method !== "HEAD") return "other";
  if (suffix.endsWith("/rendered")) return "rendered";
  if (suffix.endsWith("/thumbnail")) return "thumbnail";
  if (suffix.startsWith("/frames/")) return "frames";
  if (suffix.startsWith("/bulkdata/")) return "bulkdata";
  if (suffix === "/metadata") return "metadata";
  // A collection (`/studies`, `/studies/{s}/series`...) is a search; a resource by UID a retrieval.
  return /(?:\/studies|\/series|\/instances)$/.test(rest) ? "qido" : "wado";
}

/** The status class of an answer: 2xx, 3xx, 4xx, 5xx. */
export function statusClass(status: number): string {
  return `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx`;
}

/**
 * Counts and times every request under it. First in the chain, so that a request refused before its route
 * (no credential, a bad name) is counted too; the answer it sees is the one the error handler made.
 */
export function dicomwebMetrics(metrics: HubMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const kind = dicomwebKind(c.req.method, c.req.path);
    await next();
    const res = c.res;
    metrics.dicomwebSeconds.observe({ kind }, (performance.now() - started) / 1000);
    metrics.dicomwebRequests.inc({ kind, status: statusClass(res.status) });
    if (!res.body) return;
    // The body's bytes counted as they leave; a retrieval sent whole is also timed to its end.
    const timed = STREAMED.has(kind) && res.ok;
    const labels = { kind };
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, out) {
          metrics.dicomwebBytes.inc(labels, chunk.byteLength);
          out.enqueue(chunk);
        },
        flush() {
          if (timed) metrics.dicomwebBodySeconds.observe(labels, (performance.now() - started) / 1000);
        },
      }),
    );
    c.res = new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}
