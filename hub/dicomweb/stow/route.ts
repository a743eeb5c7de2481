/**
 * STOW-RS (PS3.18 10.5): `POST` a `multipart/related; type="application/dicom"` body to a site's
 * `/studies` (or `/studies/{study}`). A declared body over the limit is 413 before it is read. Each
 * part is spooled to the hub's disk as it arrives (./spool.ts: memory stays flat whatever its size,
 * and no file outlives the request), its File Meta group and data set header are read, and it goes
 * to the site through the tunnel, which stores it into the site's archive or the named node. The
 * answer lists what was stored (ReferencedSOPSequence) and what failed (FailedSOPSequence), in DICOM JSON:
 * an Accept that does not take it is 406 before the body is read.
 */
import * as fs from "node:fs";
import type { Context } from "hono";
import type { DicomJson } from "@conduit/shared/dicom";
import { acceptOf, baseUrl, HttpError, sitePath, type UrlOptions, warning } from "../http.ts";
import { acceptsJson } from "../wado/accept.ts";
import { MultipartError, multipartRelated, parseMultipart } from "../multipart.ts";
import { type BackendProvider, BackendUnavailableError, type StoreResult } from "../services.ts";
import { guardedBody, spoolFile, spoolPart } from "./spool.ts";

/** PS3.18 FailureReason values used here. */
const FAILURE = { processing: 0x0110, notDicom: 0xc000, wrongStudy: 0xa900 } as const;

function referenced(cls: string | undefined, uid: string | undefined, extra: DicomJson = {}): DicomJson {
  const item: DicomJson = {};
  if (cls) item["00081150"] = { vr: "UI", Value: [cls] };
  if (uid) item["00081155"] = { vr: "UI", Value: [uid] };
  return { ...item, ...extra };
}

export interface StowOptions extends UrlOptions {
  spoolDir: string;
  maxStowBytes: number;
  /** A client that sends nothing this long while its body is read gets 408. */
  stowIdleMs: number;
}

export async function stow(
  c: Context,
  provider: BackendProvider,
  options: StowOptions,
  study?: string,
): Promise<Response> {
  const site = c.req.param("site");
  if (!site) throw new HttpError(400, "STOW-RS needs a site: POST to /dicomweb/sites/{site}/studies");
  // Refused before a byte of the body is read.
  const declared = Number(c.req.header("content-length") ?? "0");
  if (declared > options.maxStowBytes) {
    throw new HttpError(
      413,
      `the request body (${declared} bytes) is larger than dicomweb.maxStowMegabytes (${options.maxStowBytes} bytes)`,
    );
  }
  // The answer's media type, checked before anything is stored (PS3.18 10.5.3: JSON or XML; XML not offered).
  if (!acceptsJson(acceptOf(c))) {
    throw new HttpError(406, "STOW-RS answers are served as application/dicom+json only; nothing was stored");
  }
  const contentType = c.req.header("content-type");
  const mp = multipartRelated(contentType);
  if (!mp || (mp.type && mp.type !== "application/dicom")) {
    // Say which part of the Content-Type is wrong (until 2026-12-06 each was the same sentence).
    const why = !contentType?.trim()
      ? "the request has no Content-Type"
      : !/^\s*multipart\/related\s*(;|$)/i.test(contentType)
      ? `the body is ${JSON.stringify(contentType.split(";")[0].trim())}, not multipart/related`
      : !mp
      ? "the Content-Type names no boundary"
      : `type=${
        JSON.stringify(mp.type)
      } is not taken (only Part 10 objects; metadata with bulk data is not supported)`;
    throw new HttpError(415, `${why}: send multipart/related; type="application/dicom" with a boundary`);
  }
  const node = c.req.param("node");
  const backend = await provider.backend(site, node);
  await backend.stow.check?.(c.req.raw.signal);
  const root = baseUrl(c, options) + sitePath(site, node);
  if (!c.req.raw.body) throw new HttpError(400, "the request has no body");
  const body = guardedBody(c.req.raw.body, options.stowIdleMs);
  const budget = { left: options.maxStowBytes };
  const stored: DicomJson[] = [];
  const failed: DicomJson[] = [];
  const reasons: string[] = [];
  const studies = new Set<string>();
  let parts = 0;
  /** Why the body could not be read to its end, once some objects were stored. */
  let broken: string | undefined;
  /** The site's tunnel was lost during a store: the parts after it are read, not sent (failed, 0x0110). */
  let lost: string | undefined;
  try {
    for await (const part of parseMultipart(body, mp.boundary)) {
      parts++;
      const type = part.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
      if (type && type !== "application/dicom") {
        for await (const _ of part.body) { /* skip */ }
        failed.push(
          referenced(undefined, undefined, { "00081197": { vr: "US", Value: [FAILURE.notDicom] } }),
        );
        reasons.push(`part ${parts}: ${type} is not application/dicom`);
        continue;
      }
      let file: string | undefined;
      try {
        file = await spoolFile(options.spoolDir);
        const s = await spoolPart(part.body, file, budget);
        if (!s.header) {
          failed.push(
            referenced(undefined, undefined, { "00081197": { vr: "US", Value: [FAILURE.notDicom] } }),
          );
          reasons.push(`part ${parts}: ${s.error ?? "not a DICOM Part 10 object"}`);
          continue;
        }
        if (study && s.studyInstanceUid !== study) {
          failed.push(referenced(s.header.sopClassUid, s.header.sopInstanceUid, {
            "00081197": { vr: "US", Value: [FAILURE.wrongStudy] },
          }));
          reasons.push(
            `part ${parts}: of study ${s.studyInstanceUid || "(none)"}, not the study in the path`,
          );
          continue;
        }
        const result: StoreResult = lost
          ? {
            sopClassUid: s.header.sopClassUid,
            sopInstanceUid: s.header.sopInstanceUid,
            ok: false,
            failureReason: FAILURE.processing,
          }
          : await backend.stow.store({ header: s.header, path: file, datasetOffset: s.datasetOffset });
        if (result.lost) lost = result.message ?? "the site's tunnel was lost";
        if (result.ok) {
          studies.add(s.studyInstanceUid ?? "");
          const url =
            `${root}/studies/${s.studyInstanceUid}/series/${s.seriesInstanceUid}/instances/${result.sopInstanceUid}`;
          stored.push(referenced(result.sopClassUid, result.sopInstanceUid, {
            "00081190": { vr: "UR", Value: [url] },
          }));
        } else {
          failed.push(referenced(result.sopClassUid, result.sopInstanceUid, {
            "00081197": { vr: "US", Value: [result.failureReason ?? FAILURE.processing] },
          }));
          if (result.message) reasons.push(`part ${parts}: ${result.message}`);
        }
      } finally {
        if (file) await fs.promises.rm(file, { force: true });
      }
    }
  } catch (err) {
    // A body that stopped being read part way: malformed, silent past dicomweb.stowIdleSeconds (408), or over
    // dicomweb.maxStowMegabytes (413). With nothing stored, that status; with parts stored before it, the
    // client is told which (202) and why the rest was not read, not that the upload was dropped (until
    // 2026-12-07 a 408 or 413 said so of objects that were stored).
    const status = err instanceof MultipartError ? 400 : err instanceof HttpError ? err.status : undefined;
    if (status === undefined || (err instanceof HttpError && status !== 408 && status !== 413)) throw err;
    const detail = err instanceof MultipartError
      ? `the multipart body is malformed: ${err.message}`
      : (err as Error).message.replace(/; the upload was dropped$/, "");
    if (stored.length === 0) throw err instanceof MultipartError ? new HttpError(400, detail) : err;
    broken = `${detail}; the ${stored.length} object(s) listed as stored before it were stored`;
  }
  if (parts === 0) throw new HttpError(400, "the multipart body has no parts");
  // Nothing stored because the tunnel went away: the site is unavailable (503, send again), not the objects'
  // fault (409 would say so). With some stored, the answer lists them (202) and the rest as failed.
  if (lost && stored.length === 0) {
    throw new BackendUnavailableError(`${lost}; nothing was stored: send the objects again`);
  }
  const answer: DicomJson = {};
  if (studies.size === 1) answer["00081190"] = { vr: "UR", Value: [`${root}/studies/${[...studies][0]}`] };
  if (failed.length) answer["00081198"] = { vr: "SQ", Value: failed };
  if (stored.length) answer["00081199"] = { vr: "SQ", Value: stored };
  const status = failed.length === 0 && !broken ? 200 : stored.length === 0 ? 409 : 202;
  const why = failedWarning(reasons, broken);
  return new Response(JSON.stringify(answer), {
    status,
    headers: { "content-type": "application/dicom+json", ...(why ? { warning: why } : {}) },
  });
}

/** At most this many failed parts are explained in the Warning header (the answer lists them all). */
const MAX_REASONS = 10;

/**
 * One `Warning` header saying why parts failed (FailureReason alone does not: `part 2: not a readable DICOM
 * object: ...`) and why the body was not read to its end, printable ASCII only, or undefined for neither.
 */
function failedWarning(reasons: string[], broken: string | undefined): string | undefined {
  const all = [
    ...reasons.slice(0, MAX_REASONS),
    ...(reasons.length > MAX_REASONS ? [`${reasons.length - MAX_REASONS} more failed parts`] : []),
    ...(broken ? [broken] : []),
  ];
  if (all.length === 0) return undefined;
  return warning(all.map((r) => r.replace(/[^\x20-\x7e]+/g, " ").slice(0, 300)).join("; "));
}
