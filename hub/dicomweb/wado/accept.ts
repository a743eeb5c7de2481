/**
 * The one reader of Accept headers for WADO-RS (PS3.18 8.7.3, RFC 9110 12.5.1): media ranges with their
 * parameters and `q`, in preference order. What each resource makes of them is below: instances (a
 * transfer syntax), frames (the syntaxes allowed), rendered images (JPEG or PNG), metadata (JSON), bulk
 * data, and zips.
 */
import { TransferSyntax as TS } from "@conduit/shared/dicom";
import { HttpError, isUid } from "../http.ts";

/** One media range of an Accept header: its type (lower case), its parameters, its weight. */
export interface MediaRange {
  media: string;
  params: Map<string, string>;
  q: number;
}

/** Every range of an Accept header in its order, `q=0` included. */
function allRanges(accept: string | undefined): MediaRange[] {
  if (!accept?.trim()) return [];
  return accept.split(/,(?=\s*[a-z*]+\/)/i).map((range) => {
    const [media, ...params] = range.split(";").map((x) => x.trim());
    const p = new Map(
      params.filter((x) => x.includes("=")).map((x) => {
        const i = x.indexOf("=");
        return [x.slice(0, i).trim().toLowerCase(), x.slice(i + 1).trim().replace(/^"|"$/g, "")] as const;
      }),
    );
    const q = Number(p.get("q") ?? 1);
    return { media: media.toLowerCase(), params: p, q: Number.isFinite(q) ? q : 1 };
  });
}

/**
 * The ranges of an Accept header, highest `q` first (ties keep their order), without those of `q=0`.
 * Commas inside a quoted parameter (`type="application/dicom"`) do not split ranges. A `q=0` range still
 * refuses what a wildcard would take: see {@link refused}.
 */
export function parseAccept(accept: string | undefined): MediaRange[] {
  return allRanges(accept).filter((r) => r.q > 0).sort((a, b) => b.q - a.q);
}

/** How specific a range is (RFC 9110 12.5.1): any type 0, `image/*` 1, `image/png` 2, with a `type` 3. */
const specificity = (r: MediaRange) =>
  r.media === "*/*" ? 0 : r.media.endsWith("/*") ? 1 : r.params.has("type") ? 3 : 2;

/**
 * Whether the client refuses `media` (for `multipart/related`, of part type `type`) with a `q=0` range more
 * specific than `via`, the range that would take it (RFC 9110 12.5.1: the most specific range decides, so
 * `image/jpeg;q=0` beside the range of any type takes anything but JPEG). A `q=0` range naming a transfer
 * syntax refuses only that syntax, not the media type.
 */
export function refused(accept: string | undefined, via: MediaRange, media: string, type?: string): boolean {
  return allRanges(accept).some((r) => {
    if (r.q > 0 || specificity(r) <= specificity(via)) return false;
    const ts = r.params.get("transfer-syntax");
    if (ts && ts !== "*") return false;
    const rtype = r.params.get("type")?.toLowerCase();
    return r.media === `${media.split("/")[0]}/*` || (r.media === media && (!rtype || rtype === type));
  });
}

/**
 * A range's `transfer-syntax` parameter when it is one a site could be asked for: a UID, or `*` (as stored).
 * Anything else (`transfer-syntax=abc`) no site can give: the range takes nothing, and, when no other range
 * takes the answer, the 406 names it (until 2026-12-06 it reached the site and the hub answered 500).
 */
function syntaxParam(range: MediaRange): string | undefined {
  const ts = range.params.get("transfer-syntax");
  return ts === undefined || ts === "*" || isUid(ts) ? ts : undefined;
}

/** The first `transfer-syntax` of an Accept header's ranges that is neither a UID nor `*`, quoted, or "". */
function badSyntaxNote(ranges: MediaRange[]): string {
  const bad = ranges.find((r) => r.params.has("transfer-syntax") && syntaxParam(r) === undefined);
  return bad
    ? ` (transfer-syntax=${
      JSON.stringify(bad.params.get("transfer-syntax"))
    } is not a transfer syntax UID, nor * for as stored)`
    : "";
}

/**
 * The transfer syntaxes an Accept header refuses by name, with a `q=0` range (RFC 9110 12.4.2: "not
 * acceptable"): those are never chosen. Until 2026-12-07 such ranges were dropped and the syntax served.
 */
function refusedSyntaxes(accept: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const r of allRanges(accept)) {
    const ts = r.params.get("transfer-syntax");
    if (r.q === 0 && ts && ts !== "*" && isUid(ts)) out.add(ts);
  }
  return out;
}

/** The transfer syntax instances are sent in without one asked (PS3.18 8.7.3.5.2). */
const DEFAULT_SYNTAX = TS.ExplicitVRLittleEndian;

/** The transfer syntax an Accept header asks instances in ("*": as stored), or a 406. */
export function acceptedTransferSyntax(accept: string | undefined): string {
  return acceptedTransferSyntaxes(accept)[0];
}

/**
 * Every transfer syntax an Accept header takes instances in, preferred first ("*": as stored), or a
 * 406: an object the site cannot give in the first may still be acceptable as it is stored.
 */
export function acceptedTransferSyntaxes(accept: string | undefined): string[] {
  return acceptedInstances(accept, false).syntaxes;
}

/** How instances are sent: in which transfer syntaxes, and as one Part 10 file or multipart. */
export interface InstancesAccepted {
  /** The syntaxes taken, preferred first ("*": as stored). */
  syntaxes: string[];
  /** One instance as the whole body, `application/dicom` (Content-Length known), not multipart. */
  single: boolean;
  /**
   * The syntaxes the Accept takes in the other form (multipart when `single`, and the reverse), preferred
   * first: what is tried when none of `syntaxes` can be had. Absent when there are none.
   */
  other?: string[];
}

/**
 * What an Accept header takes instances as, or a 406. `application/dicom` alone is a single-part
 * answer, the Part 10 file as the body, as cloud DICOMweb services give one instance (and PS3.18 8.7.3.5
 * allows for one representation): taken only for one instance (`oneInstance`). The preferred range
 * decides the form; the syntaxes are those of the ranges of that form.
 */
export function acceptedInstances(accept: string | undefined, oneInstance: boolean): InstancesAccepted {
  if (!accept?.trim()) return { syntaxes: [DEFAULT_SYNTAX], single: false };
  const multipart: string[] = [];
  const single: string[] = [];
  let form: "multipart" | "single" | undefined;
  let singleAsked = false;
  const ranges = parseAccept(accept);
  for (const range of ranges) {
    const { media, params } = range;
    const type = params.get("type")?.toLowerCase();
    if (params.has("transfer-syntax") && syntaxParam(range) === undefined) continue;
    const syntax = params.get("transfer-syntax") ?? DEFAULT_SYNTAX;
    if (
      ((media === "multipart/related" && (!type || type === "application/dicom")) ||
        media === "*/*" || media === "multipart/*") &&
      !refused(accept, range, "multipart/related", "application/dicom")
    ) {
      multipart.push(syntax);
      form ??= "multipart";
    } else if (media === "application/dicom") {
      singleAsked = true;
      if (!oneInstance) continue;
      single.push(syntax);
      form ??= "single";
    }
  }
  const no = refusedSyntaxes(accept);
  const kept = (syntaxes: string[]) => [...new Set(syntaxes)].filter((ts) => !no.has(ts));
  const withOther = (accepted: InstancesAccepted, other: string[]) =>
    kept(other).length ? { ...accepted, other: kept(other) } : accepted;
  if (form === "single" && kept(single).length) {
    return withOther({ syntaxes: kept(single), single: true }, multipart);
  }
  if (form === "multipart" && kept(multipart).length) {
    return withOther({ syntaxes: kept(multipart), single: false }, single);
  }
  if (form) {
    throw new HttpError(
      406,
      `cannot answer ${JSON.stringify(accept)}: every transfer syntax it takes instances in is refused ` +
        `with q=0 (${[...no].join(", ")}); name another (transfer-syntax=UID), or * for as stored`,
    );
  }
  throw new HttpError(
    406,
    singleAsked
      ? `cannot answer ${
        JSON.stringify(accept)
      }: a single-part application/dicom answer holds one instance; ask for a study or series as multipart/related; type="application/dicom"`
      : `cannot answer ${JSON.stringify(accept)}${
        badSyntaxNote(ranges)
      }: instances are served as multipart/related; type="application/dicom", or one instance as application/dicom`,
  );
}

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
 * media type is its default), or undefined for "anything, as stored"; 406 when it allows none.
 */
export function acceptedFrameSyntaxes(accept: string | undefined): string[] | undefined {
  if (!accept?.trim()) return undefined;
  const out: string[] = [];
  const no = refusedSyntaxes(accept);
  for (const range of parseAccept(accept)) {
    const { media, params } = range;
    const type = params.get("type")?.toLowerCase();
    const ts = params.get("transfer-syntax");
    if (ts === "*" && no.size === 0) return undefined;
    if (media === "*/*" || media === "multipart/*" || (media === "multipart/related" && !type)) {
      const taken = Object.keys(MEDIA).filter((m) =>
        !refused(accept, range, "multipart/related", m) && !refused(accept, range, m)
      );
      // Any media type: as stored, unless a syntax is refused by name (then the first of the others the
      // site can make). A media type refused with q=0: any of the others.
      if (taken.length === Object.keys(MEDIA).length && no.size === 0) return undefined;
      out.push(...taken.flatMap((m) => MEDIA[m].filter((s) => s !== TS.ExplicitVRBigEndian)));
      continue;
    }
    const syntaxes = MEDIA[media === "multipart/related" ? type! : media];
    if (!syntaxes) continue;
    if (ts && ts !== "*") {
      if (syntaxes.includes(ts)) out.push(ts);
    } // Big endian frames only when named: unnamed, application/octet-stream is little endian.
    else out.push(...syntaxes.filter((s) => s !== TS.ExplicitVRBigEndian));
  }
  const left = out.filter((ts) => !no.has(ts));
  if (out.length > 0 && left.length === 0) {
    throw new HttpError(
      406,
      `cannot answer ${JSON.stringify(accept)}: every transfer syntax it takes frames in is refused with q=0`,
    );
  }
  out.splice(0, out.length, ...left);
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

/**
 * The bare media types (`application/octet-stream`, `image/jpeg`, ...) an Accept takes one frame in as the
 * whole body, when its preferred range for frames is one of them (PS3.18 8.7.3.5: a single-part answer for
 * one representation); undefined when the preferred form is multipart/related (or no Accept). Until
 * 2026-12-07 a bare type was answered multipart, boundaries inside a client's pixel buffer.
 */
export function singlePartFrames(accept: string | undefined): Set<string> | undefined {
  const ranges = parseAccept(accept);
  const frameRange = (r: MediaRange) =>
    r.media in MEDIA || r.media === "*/*" || r.media === "multipart/*" || r.media === "multipart/related";
  const preferred = ranges.find(frameRange);
  if (!preferred || !(preferred.media in MEDIA)) return undefined;
  return new Set(ranges.filter((r) => r.media in MEDIA).map((r) => r.media));
}

/** The image type a rendered resource is made in (PS3.18 8.3.3): JPEG (the default) or PNG, or 406. */
export function acceptedImageType(accept: string | undefined): "image/jpeg" | "image/png" {
  if (!accept?.trim()) return "image/jpeg";
  for (const range of parseAccept(accept)) {
    const { media } = range;
    if (media === "image/jpeg" || media === "image/png") return media;
    if (media === "image/*" || media === "*/*") {
      const taken = (["image/jpeg", "image/png"] as const).find((m) => !refused(accept, range, m));
      if (taken) return taken;
    }
  }
  throw new HttpError(
    406,
    `cannot answer ${JSON.stringify(accept)}: rendered images are image/jpeg or image/png`,
  );
}

/** Whether an Accept header takes metadata as DICOM JSON. */
export function acceptsJson(accept: string | undefined): boolean {
  if (!accept?.trim()) return true;
  return parseAccept(accept).some((r) =>
    ["application/dicom+json", "application/json"].includes(r.media) ||
    (["*/*", "application/*"].includes(r.media) && !refused(accept, r, "application/dicom+json"))
  );
}

/** Whether an Accept header takes a native bulk value in either form ({@link acceptedNativeBulk}). */
export function acceptsBulk(accept: string | undefined): boolean {
  return acceptedNativeBulk(accept) !== undefined;
}

/**
 * How an Accept header takes a native bulk value (one part, application/octet-stream): "single" (the value as
 * the whole body) when its preferred range is `application/octet-stream` itself, "multipart" when it is a
 * multipart or any-type range (as {@link acceptsBulk} takes them), undefined when neither (a 406). Until
 * 2026-12-07 a bare `application/octet-stream` was answered multipart, boundaries inside the client's bytes.
 */
export function acceptedNativeBulk(accept: string | undefined): "multipart" | "single" | undefined {
  if (!accept?.trim()) return "multipart";
  for (const r of parseAccept(accept)) {
    if (r.media === "application/octet-stream") return "single";
    if (
      ["*/*", "multipart/related", "multipart/*"].includes(r.media) &&
      !refused(accept, r, "multipart/related", "application/octet-stream") &&
      !refused(accept, r, "application/octet-stream")
    ) return "multipart";
  }
  return undefined;
}

/**
 * How an Accept header takes encapsulated pixel data as bulk data (PS3.18 8.7.3.3.2, 10.4.1.1.3), which
 * goes only as stored (bulk data is not transcoded), in `media`, the media type of its syntax `syntax`:
 * "multipart" (`multipart/related` of that type or of none, any media type, or `transfer-syntax=*`), "single" (the
 * one part as the body: `media` itself, when the answer is one part, a video bitstream), or undefined
 * when the client takes neither (a 406).
 */
export function acceptedEncapsulatedBulk(
  accept: string | undefined,
  media: string,
  syntax: string,
  onePart: boolean,
): "multipart" | "single" | undefined {
  if (!accept?.trim()) return "multipart";
  const wanted = media.toLowerCase();
  const covers = (range: string) => range === wanted || range === `${wanted.split("/")[0]}/*`;
  for (const r of parseAccept(accept)) {
    const { media: range, params } = r;
    const ts = params.get("transfer-syntax");
    if (ts && ts !== "*" && ts !== syntax) continue;
    const type = params.get("type")?.toLowerCase();
    if (range === "*/*" || range === "multipart/*") {
      if (refused(accept, r, "multipart/related", wanted) || refused(accept, r, wanted)) continue;
      return "multipart";
    }
    if (range === "multipart/related" && (!type || ts === "*" || covers(type))) return "multipart";
    if (onePart && covers(range)) return "single";
  }
  return undefined;
}

/** Whether a zip is asked for (`application/zip`), and in which transfer syntax (`*`: as stored). */
export function acceptedZip(accept: string | undefined): { transferSyntax: string } | undefined {
  const zip = parseAccept(accept).find((r) => r.media === "application/zip");
  if (!zip) return undefined;
  const ts = syntaxParam(zip);
  if (zip.params.has("transfer-syntax") && ts === undefined) {
    throw new HttpError(406, `cannot answer ${JSON.stringify(accept)}${badSyntaxNote([zip])}`);
  }
  return { transferSyntax: ts ?? "*" };
}
