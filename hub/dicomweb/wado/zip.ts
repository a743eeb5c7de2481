/**
 * WADO-RS retrieval as `application/zip` (PS3.18 8.7.3.5.3, Supplement 211): a study, series or
 * instance as one zip of Part 10 files, `{StudyInstanceUID}/{SOPInstanceUID}.dcm`, asked for with
 * `Accept: application/zip` or, from a plain link, `?accept=application/zip`. The zip streams while
 * the site streams the objects: each file is written as its bytes arrive, nothing is held whole.
 *
 * The zip is written by npm `client-zip`: it streams from async iterables with backpressure (it
 * pulls the next bytes only when the response wants them), stores without compressing (DICOM pixel
 * data barely compresses, and deflating would spend the hub's CPU on every download), writes ZIP64
 * for studies over 4 GB, and runs on web streams as Deno does; a cancelled download stops the site's
 * retrieve.
 */
import type { Context } from "hono";
import { makeZip } from "client-zip";
import { acceptedZip } from "./accept.ts";
import { part10 } from "./part10.ts";
import { acceptOf, HttpError } from "../http.ts";
import type { DicomwebBackend, RetrievedObject, RetrieveQuery } from "../services.ts";

/**
 * Whether the request asks for a zip, and in which transfer syntax (`*`, as stored, unless the media
 * type names one): from the `accept` query parameter when present (PS3.18 8.3.3.1), else the header.
 */
export function zipRequested(c: Context): { transferSyntax: string } | undefined {
  return acceptedZip(acceptOf(c));
}

/** The file name of an object in the zip: its study's folder, its SOP Instance UID. */
function entryName(study: string, o: RetrievedObject): string {
  return `${study}/${o.header.sopInstanceUid}.dcm`;
}

/** Answers a study, series or instance as a zip of Part 10 files, streamed from `backend`. */
export async function wadoZip(
  backend: DicomwebBackend,
  query: RetrieveQuery,
  transferSyntax: string,
  onError: (err: unknown) => void,
): Promise<Response> {
  const objects = backend.wado.retrieve(
    { ...query, ...(transferSyntax === "*" ? {} : { transferSyntax }) },
  )[Symbol.asyncIterator]();
  const first = await objects.next();
  if (first.done) {
    throw new HttpError(
      404,
      `${query.sopInstanceUid ? "instance" : query.seriesInstanceUid ? "series" : "study"} not found`,
    );
  }
  const check = (o: RetrievedObject) => {
    if (transferSyntax !== "*" && o.header.transferSyntax !== transferSyntax) {
      throw new HttpError(
        406,
        `the object is stored as ${o.header.transferSyntax} and cannot be transcoded to ${transferSyntax}; ask for the zip without a transfer-syntax`,
      );
    }
    return o;
  };
  try {
    check(first.value);
  } catch (err) {
    await objects.return?.(undefined);
    throw err;
  }
  const now = new Date();
  const files = (async function* () {
    try {
      let next: IteratorResult<RetrievedObject> = first;
      while (!next.done) {
        const o = check(next.value);
        yield { name: entryName(query.studyInstanceUid, o), lastModified: now, input: part10(o) };
        next = await objects.next();
      }
    } finally {
      // A client that went away cancels the body: stop the site's retrieve too.
      await objects.return?.(undefined);
    }
  })();
  const zip = makeZip(files).getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await zip.read();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      } catch (err) {
        onError(err);
        controller.error(err);
      }
    },
    cancel: (reason) => zip.cancel(reason),
  });
  const name = query.sopInstanceUid ?? query.seriesInstanceUid ?? query.studyInstanceUid;
  return new Response(body, {
    status: 200,
    headers: {
      "content-type": "application/zip",
      "content-disposition": `attachment; filename="${name}.zip"`,
    },
  });
}
