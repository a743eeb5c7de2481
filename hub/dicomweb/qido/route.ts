/**
 * QIDO-RS (PS3.18 10.6) for one site, one node of a site, or federated over every site the token
 * may reach. One site's matches stream out as they arrive; a federated search asks the sites at once
 * (a few at a time, each within `dicomweb.federatedSiteSeconds`), waits for them (each asked for offset + limit
 * matches), merges them in site order, and names the sites it could not ask, or that did not answer in
 * time, in a `Warning` header.
 */
import type { Context } from "hono";
import { type DicomJson, ignoredByArchive, jsonString } from "@conduit/shared/dicom";
import type { Principal } from "../../auth/tokens.ts";
import { askEverySite, describe, federation } from "../federation.ts";
import { acceptOf, baseUrl, HttpError, sitePath, type UrlOptions, warning } from "../http.ts";
import { acceptsJson } from "../wado/accept.ts";
import { MAX_LIMIT, parseQido, QidoParameterError } from "./parse.ts";
import type { BackendProvider, QidoLevel } from "../services.ts";
import { SiteRequestError } from "../../tunnel/errors.ts";

const encoder = new TextEncoder();

function retrieveUrl(base: string, level: QidoLevel, ds: DicomJson): string | undefined {
  const study = jsonString(ds, "StudyInstanceUID");
  if (!study) return undefined;
  let url = `${base}/studies/${study}`;
  if (level === "STUDY") return url;
  const series = jsonString(ds, "SeriesInstanceUID");
  if (!series) return undefined;
  url += `/series/${series}`;
  if (level === "SERIES") return url;
  const sop = jsonString(ds, "SOPInstanceUID");
  return sop ? `${url}/instances/${sop}` : undefined;
}

/**
 * Whether a site stopped at the most matches it answers (C-FIND 0xA700, Out of Resources: the agent's
 * `dimse.maxFindResults`, or a node's own limit): the matches it sent before stand.
 */
function stoppedShort(err: unknown): err is SiteRequestError {
  return err instanceof SiteRequestError && err.status === 0xa700;
}

function withRetrieveUrl(ds: DicomJson, url: string | undefined): DicomJson {
  if (!url) return ds;
  const out: DicomJson = {};
  let placed = false;
  for (const [tag, v] of Object.entries(ds)) {
    if (!placed && tag > "00081190") out["00081190"] = { vr: "UR", Value: [url] }, placed = true;
    out[tag] = v;
  }
  if (!placed) out["00081190"] = { vr: "UR", Value: [url] };
  return out;
}

export async function qido(
  c: Context,
  provider: BackendProvider,
  urls: UrlOptions & { federatedSiteMs?: number },
  level: QidoLevel,
  fixed: { StudyInstanceUID?: string; SeriesInstanceUID?: string },
): Promise<Response> {
  const principal = c.get("principal") as Principal;
  if (!acceptsJson(acceptOf(c))) {
    throw new HttpError(406, "search results are served as application/dicom+json only");
  }
  let parsed;
  try {
    parsed = parseQido(new URL(c.req.url).searchParams, level, fixed);
  } catch (err) {
    if (err instanceof QidoParameterError) throw new HttpError(400, err.message);
    throw err;
  }
  const warnings: string[] = [];
  if (parsed.fuzzymatching) {
    warnings.push(
      warning("The fuzzymatching parameter is not supported. Only literal matching has been performed."),
    );
  }
  if (parsed.limitAsked) {
    warnings.push(
      warning(
        `The limit of ${parsed.limitAsked} exceeds the maximum of ${MAX_LIMIT} results per request: at most ${MAX_LIMIT} are returned, and additional results can be requested with offset.`,
      ),
    );
  }
  if (parsed.unknownTags.length) {
    warnings.push(
      warning(
        `The following attributes are not in the DICOM dictionary the hub knows and were ignored (not matched, not returned): ${
          parsed.unknownTags.join(", ")
        }`,
      ),
    );
  }
  const site = c.req.param("site");
  const node = c.req.param("node");
  // A site's archive matches on what its index holds; any other key is not a filter there (a node's
  // own C-FIND SCP decides for itself, and we cannot know what it ignored).
  const ignored = node ? [] : ignoredByArchive(parsed.query.level, parsed.query.keys);
  if (ignored.length) {
    warnings.push(
      warning(
        `The following query keys are not supported for matching and were ignored: ${ignored.join(", ")}`,
      ),
    );
  }
  const base = baseUrl(c, urls);
  const headers: Record<string, string> = { "content-type": "application/dicom+json" };

  if (site) {
    const backend = await provider.backend(site, node);
    // The page alone: the backend skips the offset (the agent in its index query, one query per page).
    const page = { ...parsed.query, offset: parsed.offset, limit: parsed.limit };
    const matches = backend.qido.search(page)[Symbol.asyncIterator]();
    // The first match decides the status: a failure before it is an error response.
    let first: IteratorResult<DicomJson>;
    try {
      first = await matches.next();
    } catch (err) {
      if (!stoppedShort(err)) throw err;
      first = { done: true, value: undefined };
      warnings.push(warning(`site ${site} stopped before the offset: ${err.message}`));
    }
    if (warnings.length) headers.warning = warnings.join(", ");
    const root = base + sitePath(site, node);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode("["));
      },
      async pull(controller) {
        try {
          const next = sent === 0 ? first : await matches.next();
          if (next.done || (parsed.limit !== undefined && sent >= parsed.limit)) {
            controller.enqueue(encoder.encode("]"));
            controller.close();
            await matches.return?.(undefined);
            return;
          }
          const ds = withRetrieveUrl(next.value, retrieveUrl(root, level, next.value));
          controller.enqueue(encoder.encode((sent++ ? "," : "") + JSON.stringify(ds)));
        } catch (err) {
          if (!stoppedShort(err)) return controller.error(err);
          // The status and headers are gone: the array ends with what the site gave.
          controller.enqueue(encoder.encode("]"));
          controller.close();
        }
      },
      async cancel() {
        await matches.return?.(undefined);
      },
    });
    return new Response(body, { status: 200, headers });
  }

  // Federated: every site the principal may reach and that is connected; the others are named.
  const { sites, leftOut } = await federation(provider, principal);
  for (const l of leftOut) {
    warnings.push(warning(`${describe(l)}; its results are not included`));
  }
  const answers = await askEverySite(sites, async (site, signal) => {
    const out: DicomJson[] = [];
    try {
      const backend = await provider.backend(site);
      const root = base + sitePath(site);
      for await (const ds of backend.qido.search(parsed.query, signal)) {
        out.push(withRetrieveUrl(ds, retrieveUrl(root, level, ds)));
      }
      return out;
    } catch (err) {
      if (!stoppedShort(err)) throw err;
      warnings.push(
        warning(
          `site ${site} has more matches than it answers, only its first ${out.length} are included: ${err.message}`,
        ),
      );
      return out;
    }
  }, { timeoutMs: urls.federatedSiteMs });
  const perSite = answers.map((a) => {
    if ("value" in a) return a.value;
    warnings.push(warning(`site ${a.site} ${a.reason}; its results are not included`));
    return [];
  });
  let merged = perSite.flat();
  merged = merged.slice(parsed.offset, parsed.limit === undefined ? undefined : parsed.offset + parsed.limit);
  if (warnings.length) headers.warning = warnings.join(", ");
  return new Response(JSON.stringify(merged), { status: 200, headers });
}
