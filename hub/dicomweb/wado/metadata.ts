/**
 * WADO-RS metadata (PS3.18 10.4.1.1.2) at study, series and instance level, and bulk data
 * (10.4.1.1.3). The site reads headers only (never pixel data) and sends each instance's DICOM
 * JSON; this streams them out as one JSON array, turning the site's relative bulk data references
 * into absolute BulkDataURIs under the public URL.
 */
import type { Context } from "hono";
import { type DicomJson, jsonString, videoMediaType } from "@conduit/shared/dicom";
import { acceptOf, baseUrl, HttpError, sitePath, type UrlOptions } from "../http.ts";
import { backendFor } from "./instances.ts";
import {
  acceptedEncapsulatedBulk,
  acceptedNativeBulk,
  acceptsBulk,
  acceptsJson,
  frameMediaType,
} from "./accept.ts";
import { multipartBody, singlePartBody } from "../multipart.ts";
import type { BackendProvider, InstancePath, RetrieveQuery } from "../services.ts";

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

/**
 * One bulk value. A native value goes as application/octet-stream, one part. Encapsulated pixel data goes
 * as stored, in its syntax's media type with `transfer-syntax` (PS3.18 8.7.3.3.2): a part per frame (the
 * media type of the frames route), or for a video syntax the whole bitstream in one part (`video/mpeg`,
 * `video/mp4`, `video/H265`), which a viewer may ask as a single part (OHIF plays it from the BulkDataURI
 * with `accept=video/mp4`). What only a transcode could give is 406.
 */
export async function bulkdata(
  c: Context,
  provider: BackendProvider,
  query: InstancePath,
  path: string,
  onError: (err: unknown) => void,
) {
  const accept = acceptOf(c);
  if (!/^[0-9A-Fa-f]{8}(\/\d+\/[0-9A-Fa-f]{8})*$/.test(path)) {
    throw new HttpError(400, `bad bulk data path ${path}`);
  }
  // Only pixel data may be encapsulated: anything else is refused before the site is asked.
  const pixels = path.toUpperCase() === "7FE00010";
  if (!pixels && !acceptsBulk(accept)) throw new HttpError(406, NATIVE);
  const backend = await backendFor(c, provider, query.studyInstanceUid);
  const value = await backend.wado.bulkdata(query, path.toUpperCase());
  const syntax = value.transferSyntax;
  const video = syntax && videoMediaType(syntax);
  const media = syntax ? video || frameMediaType(syntax) : "application/octet-stream";
  const form = syntax ? acceptedEncapsulatedBulk(accept, media, syntax, !!video) : acceptedNativeBulk(accept);
  if (!form) {
    value.cancel();
    throw new HttpError(
      406,
      syntax
        ? `the pixel data is stored as ${media} (${syntax}); bulk data is served as stored, not transcoded`
        : NATIVE,
    );
  }
  if (form === "single") {
    const iterator = value.parts[Symbol.asyncIterator]();
    const part = await iterator.next();
    if (part.done) throw new HttpError(404, "the pixel data is empty");
    return new Response(singlePartBody(part.value.bytes, iterator, onError), {
      status: 200,
      headers: { "content-type": media, "content-length": String(part.value.size) },
    });
  }
  const boundary = `conduit-${crypto.randomUUID()}`;
  const contentType = syntax ? `${media}; transfer-syntax=${syntax}` : media;
  const parts = (async function* () {
    for await (const part of value.parts) yield { contentType, bytes: part.bytes };
  })();
  return new Response(multipartBody(boundary, parts, onError), {
    status: 200,
    headers: { "content-type": `multipart/related; type="${media}"; boundary=${boundary}` },
  });
}

const NATIVE = 'bulk data is served as multipart/related; type="application/octet-stream"';
