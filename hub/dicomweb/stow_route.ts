/**
 * STOW-RS (PS3.18 10.5): `POST` a `multipart/related; type="application/dicom"` body to a site's
 * `/studies` (or `/studies/{study}`). Each part is spooled to the hub's disk as it arrives (memory
 * stays flat whatever its size), its File Meta group and data set header are read, and it goes to
 * the site through the tunnel, which stores it into the site's archive or the named node. The
 * answer lists what was stored (ReferencedSOPSequence) and what failed (FailedSOPSequence).
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type { Context } from "hono";
import type { DicomJson } from "@conduit/shared/dicom/json.ts";
import { parseDataSet, readPart10Header } from "@conduit/shared/dicom/reader.ts";
import { instanceAttributes } from "@conduit/shared/dicom/header.ts";
import { encodingOf } from "@conduit/shared/dicom/uids.ts";
import type { ObjectHeader } from "@conduit/shared/tunnel/mod.ts";
import { baseUrl, HttpError, requestSignal, sitePath, type UrlOptions } from "./http.ts";
import { MultipartError, multipartRelated, parseMultipart } from "./multipart.ts";
import type { BackendProvider, StoreResult } from "./services.ts";

/** Bytes of a part read before its header is parsed. */
const PREFIX = 1024 * 1024;
const PIXEL_DATA = 0x7fe00010;

/** PS3.18 FailureReason values used here. */
const FAILURE = { processing: 0x0110, notDicom: 0xc000, wrongStudy: 0xa900 } as const;

interface Spooled {
  path: string;
  header?: ObjectHeader;
  datasetOffset: number;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  error?: string;
}

async function spool(
  body: AsyncIterable<Uint8Array>,
  dir: string,
  budget: { left: number },
): Promise<Spooled> {
  const path = await Deno.makeTempFile({ dir, prefix: "stow-", suffix: ".part" });
  const file = await Deno.open(path, { write: true });
  const hash = createHash("sha256");
  const prefix: Uint8Array[] = [];
  let prefixBytes = 0;
  let datasetOffset = -1;
  let total = 0;
  const startHashing = () => {
    const all = new Uint8Array(prefixBytes);
    let at = 0;
    for (const p of prefix) all.set(p, at), at += p.byteLength;
    try {
      datasetOffset = readPart10Header(all).datasetOffset;
    } catch {
      datasetOffset = 0;
    }
    hash.update(all.subarray(datasetOffset));
    return all;
  };
  let head: Uint8Array | undefined;
  try {
    for await (const chunk of body) {
      budget.left -= chunk.byteLength;
      if (budget.left < 0) {
        throw new HttpError(413, "the request body is larger than dicomweb.maxStowMegabytes");
      }
      total += chunk.byteLength;
      for (let at = 0; at < chunk.byteLength;) at += await file.write(chunk.subarray(at));
      if (datasetOffset >= 0) hash.update(chunk);
      else {
        prefix.push(chunk);
        prefixBytes += chunk.byteLength;
        if (prefixBytes >= PREFIX) head = startHashing();
      }
    }
  } finally {
    file.close();
  }
  if (datasetOffset < 0) head = startHashing();
  const out: Spooled = { path, datasetOffset };
  try {
    const meta = readPart10Header(head!);
    if (!meta.sopClassUid || !meta.sopInstanceUid || !meta.hasPreamble) {
      return {
        ...out,
        error: "not a DICOM Part 10 object (no File Meta group with SOP Class and Instance UIDs)",
      };
    }
    const { dataset } = parseDataSet(head!, encodingOf(meta.transferSyntax), {
      start: meta.datasetOffset,
      stopAtTag: PIXEL_DATA,
    });
    const attrs = instanceAttributes(head!, dataset, meta);
    out.studyInstanceUid = attrs.studyInstanceUid;
    out.seriesInstanceUid = attrs.seriesInstanceUid;
    // The data set's own UIDs win over the File Meta group's (some files disagree; the site checks
    // the data set against what it is told, and writes a fresh File Meta group from these).
    out.header = {
      type: "object",
      sopInstanceUid: attrs.sopInstanceUid || meta.sopInstanceUid,
      sopClassUid: attrs.sopClassUid || meta.sopClassUid,
      transferSyntax: meta.transferSyntax,
      size: total - meta.datasetOffset,
      sha256: hash.digest("hex"),
    };
  } catch (err) {
    out.error = `not a readable DICOM object: ${(err as Error).message}`;
  }
  return out;
}

function referenced(cls: string | undefined, uid: string | undefined, extra: DicomJson = {}): DicomJson {
  const item: DicomJson = {};
  if (cls) item["00081150"] = { vr: "UI", Value: [cls] };
  if (uid) item["00081155"] = { vr: "UI", Value: [uid] };
  return { ...item, ...extra };
}

export interface StowOptions extends UrlOptions {
  spoolDir: string;
  maxStowBytes: number;
}

export async function stow(
  c: Context,
  provider: BackendProvider,
  options: StowOptions,
  study?: string,
): Promise<Response> {
  const site = c.req.param("site");
  if (!site) throw new HttpError(400, "STOW-RS needs a site: POST to /dicomweb/sites/{site}/studies");
  const mp = multipartRelated(c.req.header("content-type"));
  if (!mp || (mp.type && mp.type !== "application/dicom")) {
    throw new HttpError(415, 'send multipart/related; type="application/dicom" with a boundary');
  }
  const node = c.req.param("node");
  const backend = await provider.backend(site, node);
  const root = baseUrl(c, options) + sitePath(site, node);
  const body = c.req.raw.body;
  if (!body) throw new HttpError(400, "the request has no body");
  await fs.promises.mkdir(options.spoolDir, { recursive: true });
  const budget = { left: options.maxStowBytes };
  const stored: DicomJson[] = [];
  const failed: DicomJson[] = [];
  const studies = new Set<string>();
  let parts = 0;
  try {
    for await (const part of parseMultipart(body, mp.boundary)) {
      parts++;
      const type = part.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
      if (type && type !== "application/dicom") {
        for await (const _ of part.body) { /* skip */ }
        failed.push(
          referenced(undefined, undefined, { "00081197": { vr: "US", Value: [FAILURE.notDicom] } }),
        );
        continue;
      }
      const s = await spool(part.body, options.spoolDir, budget);
      try {
        if (!s.header) {
          failed.push(
            referenced(undefined, undefined, { "00081197": { vr: "US", Value: [FAILURE.notDicom] } }),
          );
          continue;
        }
        if (study && s.studyInstanceUid !== study) {
          failed.push(referenced(s.header.sopClassUid, s.header.sopInstanceUid, {
            "00081197": { vr: "US", Value: [FAILURE.wrongStudy] },
          }));
          continue;
        }
        const result: StoreResult = await backend.store(
          { header: s.header, path: s.path, datasetOffset: s.datasetOffset },
          requestSignal(),
        );
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
        }
      } finally {
        await fs.promises.rm(s.path, { force: true });
      }
    }
  } catch (err) {
    if (err instanceof MultipartError) {
      throw new HttpError(400, `the multipart body is malformed: ${err.message}`);
    }
    throw err;
  }
  if (parts === 0) throw new HttpError(400, "the multipart body has no parts");
  const answer: DicomJson = {};
  if (studies.size === 1) answer["00081190"] = { vr: "UR", Value: [`${root}/studies/${[...studies][0]}`] };
  if (failed.length) answer["00081198"] = { vr: "SQ", Value: failed };
  if (stored.length) answer["00081199"] = { vr: "SQ", Value: stored };
  const status = failed.length === 0 ? 200 : stored.length === 0 ? 409 : 202;
  return new Response(JSON.stringify(answer), {
    status,
    headers: { "content-type": "application/dicom+json" },
  });
}
