/**
 * WADO-RS frames (PS3.18 10.4.1.1.4, pixel data by frame): one part per frame in the order asked.
 * What the client accepts decides the syntax (PS3.18 8.7.3): frames go as stored when a media type it
 * accepts covers them (or it asks `transfer-syntax=*`), else the site transcodes them into the first
 * syntax it accepts that the site can produce (application/octet-stream: native frames; image/jls,
 * image/jp2, image/jphc, image/jpeg, image/x-dicom-rle: compressed), else 406.
 */
import type { Context } from "hono";
import { TransferSyntax as TS } from "@conduit/shared/dicom";
import { HttpError, requestSignal } from "../http.ts";
import { backendFor } from "./instances.ts";
import { multipartBody } from "../multipart.ts";
import type { BackendProvider, RetrieveQuery } from "../services.ts";

/** Media types of pixel data (PS3.18 Table 8.7.3-2), each with its syntaxes, the default first. */
const MEDIA: Record<string, string[]> = {
  "application/octet-stream": [TS.ExplicitVRLittleEndian, TS.ImplicitVRLittleEndian, TS.ExplicitVRBigEndian],
  "image/jpeg": [TS.JpegBaseline, TS.JpegExtended, TS.JpegLossless, TS.JpegLosslessSV1],
  "image/jls": [TS.JpegLsLossless, TS.JpegLsNearLossless],
  "image/jp2": [TS.Jpeg2000Lossless, TS.Jpeg2000],
  "image/jphc": [TS.HtJpeg2000Lossless, TS.HtJpeg2000LosslessRpcl, TS.HtJpeg2000],
  "image/x-dicom-rle": [TS.Rle],
};

/** The media type frames in a transfer syntax are served as. */
export function frameMediaType(transferSyntax: string): string {
  for (const [media, syntaxes] of Object.entries(MEDIA)) {
    if (syntaxes.includes(transferSyntax)) return media;
  }
  return "application/octet-stream";
}

/**
 * The transfer syntaxes an Accept header allows for frames, in preference order (the first of each
 * media type is its default), or undefined for "anything, as stored".
 */
export function acceptedFrameSyntaxes(accept: string | undefined): string[] | undefined {
  if (!accept || !accept.trim()) return undefined;
  const out: string[] = [];
  const ranges = accept.split(/,(?=\s*[a-z*]+\/)/i).map((range) => {
    const [media, ...params] = range.split(";").map((x) => x.trim());
    const p = new Map(params.map((x) => {
      const i = x.indexOf("=");
      return [x.slice(0, i).trim().toLowerCase(), x.slice(i + 1).trim().replace(/^"|"$/g, "")] as const;
    }));
    const q = Number(p.get("q") ?? 1);
    return { media: media.toLowerCase(), p, q: Number.isFinite(q) ? q : 1 };
  }).filter((r) => r.q > 0).sort((a, b) => b.q - a.q);
  for (const { media, p } of ranges) {
    const type = p.get("type")?.toLowerCase();
    const ts = p.get("transfer-syntax");
    if (
      ts === "*" || media === "*/*" || media === "multipart/*" || (media === "multipart/related" && !type)
    ) {
      return undefined;
    }
    const mediaType = media === "multipart/related" ? type! : media;
    const syntaxes = MEDIA[mediaType];
    if (!syntaxes) continue;
    if (ts) {
      if (syntaxes.includes(ts)) out.push(ts);
    } else out.push(...syntaxes);
  }
  if (out.length === 0) {
    throw new HttpError(
      406,
      `cannot answer ${
        JSON.stringify(accept)
      }: frames are served as application/octet-stream, image/jpeg, image/jls, image/jp2, image/jphc or image/x-dicom-rle`,
    );
  }
  return [...new Set(out)];
}

export async function frames(
  c: Context,
  provider: BackendProvider,
  query: Required<Pick<RetrieveQuery, "studyInstanceUid" | "sopInstanceUid">>,
  list: string,
  onError: (err: unknown) => void,
) {
  if (!/^\d+(,\d+)*$/.test(list)) {
    throw new HttpError(400, `frame list ${JSON.stringify(list)}: give 1-based numbers, comma-separated`);
  }
  const numbers = list.split(",").map(Number);
  if (numbers.some((n) => n < 1)) throw new HttpError(400, "frame numbers start at 1");
  const accepted = acceptedFrameSyntaxes(c.req.header("accept"));
  const backend = await backendFor(c, provider, query.studyInstanceUid);
  const result = await backend.wado.frames(query.sopInstanceUid, numbers, requestSignal(), accepted);
  const media = frameMediaType(result.transferSyntax);
  if (accepted && !accepted.includes(result.transferSyntax)) {
    for await (const f of result.frames) for await (const _ of f) { /* drain */ }
    throw new HttpError(
      406,
      `frames are stored as ${media} (${result.transferSyntax}) and cannot be transcoded to what was asked`,
    );
  }
  const boundary = `conduit-${crypto.randomUUID()}`;
  const contentType = result.encapsulated ? `${media}; transfer-syntax=${result.transferSyntax}` : media;
  const parts = (async function* () {
    for await (const f of result.frames) yield { contentType, bytes: f };
  })();
  return new Response(multipartBody(boundary, parts, onError), {
    status: 200,
    headers: { "content-type": `multipart/related; type="${media}"; boundary=${boundary}` },
  });
}
