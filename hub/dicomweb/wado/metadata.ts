/**
 * WADO-RS metadata (PS3.18 10.4.1.1.2) at study, series and instance level, and bulk data
 * (10.4.1.1.3). The site reads headers only (never pixel data) and sends each instance's DICOM
 * JSON; this streams them out as one JSON array, turning the site's relative bulk data references
 * into absolute BulkDataURIs under the public URL.
 */
import type { Context } from "hono";
import { type DicomJson, jsonString } from "@conduit/shared/dicom";
import { acceptOf, baseUrl, HttpError, sitePath, type UrlOptions } from "../http.ts";
import { backendFor } from "./instances.ts";
import { acceptsBulk, acceptsJson } from "./accept.ts";
import { multipartBody } from "../multipart.ts";
import type { BackendProvider, RetrieveQuery } from "../services.ts";

const encoder = new TextEncoder();

function absolutize(ds: DicomJson, instanceUrl: string): DicomJson {
  for (const attr of Object.values(ds)) {
    if (attr.BulkDataURI?.startsWith("bulkdata/")) attr.BulkDataURI = `${instanceUrl}/${attr.BulkDataURI}`;
    if (attr.vr === "SQ") {
      for (const item of (attr.Value ?? []) as DicomJson[]) absolutize(item, instanceUrl);
    }
  }
  return ds;
}

export async function metadata(
  c: Context,
  provider: BackendProvider,
  urls: UrlOptions,
  query: RetrieveQuery,
) {
  if (!acceptsJson(acceptOf(c))) {
    throw new HttpError(406, "metadata is served as application/dicom+json");
  }
  const backend = await backendFor(c, provider, query.studyInstanceUid);
  const root = baseUrl(c, urls) + sitePath(backend.site, backend.node);
  const items = backend.wado.metadata(query)[Symbol.asyncIterator]();
  const first = await items.next();
  if (first.done) throw new HttpError(404, "no such study, series or instance");
  let sent = 0;
  const url = (ds: DicomJson) =>
    `${root}/studies/${jsonString(ds, "StudyInstanceUID")}/series/${
      jsonString(ds, "SeriesInstanceUID")
    }/instances/${jsonString(ds, "SOPInstanceUID")}`;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode("["));
    },
    async pull(controller) {
      try {
        const next = sent === 0 ? first : await items.next();
        if (next.done) {
          controller.enqueue(encoder.encode("]"));
          return controller.close();
        }
        controller.enqueue(
          encoder.encode((sent++ ? "," : "") + JSON.stringify(absolutize(next.value, url(next.value)))),
        );
      } catch (err) {
        controller.error(err);
      }
    },
    async cancel() {
      await items.return?.(undefined);
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/dicom+json" } });
}

export async function bulkdata(
  c: Context,
  provider: BackendProvider,
  query: Required<Pick<RetrieveQuery, "studyInstanceUid" | "sopInstanceUid">>,
  path: string,
  onError: (err: unknown) => void,
) {
  const accept = acceptOf(c);
  if (!acceptsBulk(accept)) {
    throw new HttpError(406, 'bulk data is served as multipart/related; type="application/octet-stream"');
  }
  if (!/^[0-9A-Fa-f]{8}(\/\d+\/[0-9A-Fa-f]{8})*$/.test(path)) {
    throw new HttpError(400, `bad bulk data path ${path}`);
  }
  const backend = await backendFor(c, provider, query.studyInstanceUid);
  const value = await backend.wado.bulkdata(query.sopInstanceUid, path.toUpperCase());
  const boundary = `conduit-${crypto.randomUUID()}`;
  const parts = (async function* () {
    yield { contentType: "application/octet-stream", bytes: value.bytes };
  })();
  return new Response(multipartBody(boundary, parts, onError), {
    status: 200,
    headers: { "content-type": `multipart/related; type="application/octet-stream"; boundary=${boundary}` },
  });
}
