/**
 * WADO-RS frames (PS3.18 10.4.1.1.4, pixel data by frame): one part per frame in the order asked.
 * What the client accepts decides the syntax (PS3.18 8.7.3): frames go as stored when a media type it
 * accepts covers them (or it asks `transfer-syntax=*`), else the site transcodes them into the first
 * syntax it accepts that the site can produce (application/octet-stream: native frames; image/jls,
 * image/jp2, image/jphc, image/jpeg, image/x-dicom-rle: compressed), else 406.
 */
import type { Context } from "hono";
import { TransferSyntax } from "@conduit/shared/dicom";
import { MAX_FRAMES_PER_REQUEST } from "@conduit/shared/tunnel";
import { acceptOf, HttpError } from "../http.ts";
import { backendFor } from "./instances.ts";
import { acceptedFrameSyntaxes, frameMediaType, singlePartFrames } from "./accept.ts";
import { multipartBody, singlePartBody } from "../multipart.ts";
import type { BackendProvider, InstancePath } from "../services.ts";

const LITTLE_ENDIAN: string[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
];

export async function frames(
  c: Context,
  provider: BackendProvider,
  query: InstancePath,
  list: string,
  onError: (err: unknown) => void,
) {
  if (!/^\d+(,\d+)*$/.test(list)) {
    throw new HttpError(400, `frame list ${JSON.stringify(list)}: give 1-based numbers, comma-separated`);
  }
  const numbers = list.split(",").map(Number);
  if (numbers.some((n) => n < 1)) throw new HttpError(400, "frame numbers start at 1");
  if (numbers.length > MAX_FRAMES_PER_REQUEST) {
    throw new HttpError(400, `at most ${MAX_FRAMES_PER_REQUEST} frames a request (${numbers.length} asked)`);
  }
  if (numbers.some((n) => !Number.isSafeInteger(n))) {
    throw new HttpError(
      404,
      `frame ${list.split(",").find((x) => !Number.isSafeInteger(Number(x)))} does not exist`,
    );
  }
  const accepted = acceptedFrameSyntaxes(acceptOf(c));
  const single = singlePartFrames(acceptOf(c));
  if (single && numbers.length > 1) {
    throw new HttpError(
      406,
      `a single-part answer (${[...single].join(", ")}) holds one frame; ask for ${numbers.length} as ` +
        `multipart/related; type="${[...single][0]}"`,
    );
  }
  const backend = await backendFor(c, provider, query.studyInstanceUid);
  const result = await backend.wado.frames(query, numbers, accepted);
  const media = frameMediaType(result.transferSyntax);
  if (accepted && !accepted.includes(result.transferSyntax)) {
    for await (const f of result.frames) for await (const _ of f) { /* drain */ }
    throw new HttpError(
      406,
      `frames are stored as ${media} (${result.transferSyntax}) and cannot be transcoded to what was asked`,
    );
  }
  // Native frames say their syntax unless little endian (application/octet-stream's own): big endian, and
  // a private or unknown syntax, whose bytes are as stored (until 2026-12-06 those went unlabelled).
  const labelled = result.encapsulated || !LITTLE_ENDIAN.includes(result.transferSyntax);
  const contentType = labelled ? `${media}; transfer-syntax=${result.transferSyntax}` : media;
  if (single?.has(media)) {
    // One frame as the whole body, in a media type the Accept names bare.
    const all = result.frames[Symbol.asyncIterator]();
    const first = await all.next();
    if (first.done) throw new HttpError(404, `frame ${list} does not exist`);
    return new Response(singlePartBody(first.value, all, onError), {
      status: 200,
      headers: { "content-type": contentType },
    });
  }
  const boundary = `conduit-${crypto.randomUUID()}`;
  const parts = (async function* () {
    for await (const f of result.frames) yield { contentType, bytes: f };
  })();
  return new Response(multipartBody(boundary, parts, onError), {
    status: 200,
    headers: { "content-type": `multipart/related; type="${media}"; boundary=${boundary}` },
  });
}
