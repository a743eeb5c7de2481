/**
 * WADO-RS retrieval of instances (PS3.18 10.4): a study, a series or one instance as
 * `multipart/related; type="application/dicom"`, each part a Part 10 object (a File Meta group
 * written here, then the data set's bytes as the site streams them). Parts leave as objects arrive:
 * nothing is held whole. `transfer-syntax=*` gives each object as stored; without one, or with an
 * explicit one, the site transcodes (agent/transcode: Implicit to Explicit VR by header rewriting,
 * other pairs by dcmjs-codecs); an object it cannot give in that syntax is 406 (PS3.18 8.7.3.5).
 * One instance may also be asked as `application/dicom`: its Part 10 file as the whole body.
 * `application/zip` (header or `accept` query parameter) gives the same objects as one zip (./zip.ts).
 */
import type { Context } from "hono";
import type { Principal } from "../../auth/tokens.ts";
import { describe, federation, type FederationEnv, firstSiteWith } from "../federation.ts";
import { acceptOf, HttpError, warning } from "../http.ts";
import { multipartBody, singlePartBody } from "../multipart.ts";
import type { BackendProvider, DicomwebBackend, RetrievedObject, RetrieveQuery } from "../services.ts";
import { wadoZip, zipRequested } from "./zip.ts";
import { acceptedInstances } from "./accept.ts";
import { fileMetaOf, part10 } from "./part10.ts";
import { acceptableCopy, firstAcceptable } from "./next_syntax.ts";

/**
 * Finds the site holding a study (federated retrieval by UID): every site asked at once, each within
 * `dicomweb.federatedSiteSeconds`, the first that holds it answering. When none does, the 404 names the
 * sites that were not asked or did not answer (in its detail and a Warning), as federated QIDO does.
 */
async function locateStudy(
  provider: BackendProvider,
  principal: Principal,
  study: string,
  timeoutMs: number | undefined,
): Promise<DicomwebBackend> {
  const { sites, leftOut } = await federation(provider, principal);
  const found = await firstSiteWith(sites, async (site, signal) => {
    const backend = await provider.backend(site);
    const query = { level: "STUDY" as const, keys: { StudyInstanceUID: study }, limit: 1 };
    for await (const _ of backend.qido.search(query, signal)) return true;
    return false;
  }, { timeoutMs });
  if (found.site) return await provider.backend(found.site);
  const notAsked = [...leftOut, ...found.leftOut].map(describe);
  throw new HttpError(
    404,
    `no site the token may reach holds study ${study}${
      notAsked.length ? ` (not searched: ${notAsked.join("; ")})` : ""
    }`,
    notAsked.length ? notAsked.map((w) => warning(`${w}; it was not searched`)).join(", ") : undefined,
  );
}

export async function backendFor(
  c: Context,
  provider: BackendProvider,
  study: string,
): Promise<DicomwebBackend> {
  const principal = c.get("principal") as Principal;
  const site = c.req.param("site");
  // The site's name and the principal's reach were checked by the route's guard.
  const backend = site
    ? await provider.backend(site, c.req.param("node"))
    : await locateStudy(provider, principal, study, (c as Context<FederationEnv>).get("federatedSiteMs"));
  // For the stall bound's log line (../stall.ts): a federated retrieval's site is known only here.
  c.set("answeringSite", backend.site);
  return backend;
}

export async function wadoInstances(
  c: Context,
  provider: BackendProvider,
  query: RetrieveQuery,
  onError: (err: unknown) => void,
): Promise<Response> {
  const zip = zipRequested(c);
  if (zip) {
    const backend = await backendFor(c, provider, query.studyInstanceUid);
    return await wadoZip(backend, query, zip.transferSyntax, onError);
  }
  const accepted = acceptedInstances(acceptOf(c), Boolean(query.sopInstanceUid));
  let { syntaxes: acceptable, single } = accepted;
  const backend = await backendFor(c, provider, query.studyInstanceUid);
  let found = await firstAcceptable(backend, query, acceptable);
  if ("refused" in found && accepted.other) {
    // None in the preferred form (a single part, say): the other form's ranges may take one.
    const again = await firstAcceptable(backend, query, accepted.other);
    if (!("refused" in again)) [found, acceptable, single] = [again, accepted.other, !single];
  }
  const named = [...acceptable, ...(accepted.other ?? [])];
  if ("done" in found) {
    throw new HttpError(
      404,
      `${query.sopInstanceUid ? "instance" : query.seriesInstanceUid ? "series" : "study"} not found`,
    );
  }
  const cannot = (stored: string) =>
    `the object is stored as ${stored} and cannot be transcoded to ${
      [...new Set(named)].filter((s) => s !== "*").join(" nor ")
    }; ask with transfer-syntax=*`;
  if ("refused" in found) throw new HttpError(406, cannot(found.refused.transferSyntax));
  // The stream was asked in `asked`: the site sends in it what it can, as stored what it cannot.
  const { objects, first, asked } = found;
  const later = acceptable.slice(acceptable.indexOf(asked) + 1);
  // An object of a mixed study that the stream's syntax does not suit: asked for alone in the later ones.
  const check = async (o: RetrievedObject) => {
    const copy = await acceptableCopy(backend, query, o, later, acceptable);
    if (!copy) throw new HttpError(406, cannot(o.header.transferSyntax));
    return copy;
  };
  if (single) return singleInstance(first, objects, onError);
  const boundary = `conduit-${crypto.randomUUID()}`;
  const parts = (async function* () {
    try {
      let next: IteratorResult<RetrievedObject> = { done: false, value: first };
      while (!next.done) {
        const o = await check(next.value);
        yield {
          contentType: `application/dicom; transfer-syntax=${o.header.transferSyntax}`,
          bytes: part10(o),
        };
        next = await objects.next();
      }
    } finally {
      // A client that went away cancels the body: stop the site's retrieve too.
      await objects.return?.(undefined);
    }
  })();
  // One syntax for every part only when the Accept allowed just one.
  const transferSyntax = acceptable.length > 1 || acceptable[0] === "*" ? "" : `; transfer-syntax=${asked}`;
  return new Response(multipartBody(boundary, parts, onError), {
    status: 200,
    headers: {
      "content-type": `multipart/related; type="application/dicom"; boundary=${boundary}${transferSyntax}`,
    },
  });
}

/**
 * One instance as the whole body (`Accept: application/dicom`): its Part 10 file, with its length. A body
 * cut short (the site found the archived bytes changed, or went away) ends before that length, which the
 * client sees as an incomplete answer.
 */
function singleInstance(
  object: RetrievedObject,
  rest: AsyncIterator<RetrievedObject>,
  onError: (err: unknown) => void,
): Response {
  const meta = fileMetaOf(object);
  const body = singlePartBody(
    (async function* () {
      yield meta;
      yield* object.bytes;
    })(),
    rest,
    onError,
  );
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": `application/dicom; transfer-syntax=${object.header.transferSyntax}`,
      "content-length": String(meta.length + object.header.size),
    },
  });
}
