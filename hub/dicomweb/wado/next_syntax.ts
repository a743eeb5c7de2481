/**
 * The next acceptable representation of instances (RFC 9110 12.5.1, PS3.18 8.7.3.5): a site asked for objects
 * in the preferred transfer syntax sends an object as stored when it cannot give it in that one (no codec, a
 * lossy codec refusing 16-bit pixels, ...). When the Accept also names other syntaxes, the object is asked for
 * again in each of them, in the Accept's order, before the answer is a 406 (until 2026-12-07 only the first
 * was tried: `transfer-syntax=JPEG Baseline, JPEG-LS` of a 16-bit object was 406, though JPEG-LS alone worked).
 */
import type { DicomwebBackend, RetrievedObject, RetrieveQuery } from "../services.ts";

/** Whether an object's syntax is one the Accept takes ("*": as stored, any). */
export function takes(acceptable: string[], o: RetrievedObject): boolean {
  return acceptable.includes("*") || acceptable.includes(o.header.transferSyntax);
}

/**
 * The first object of `query` in the first syntax of `acceptable` the site can give it in: the retrieve asked
 * again in each in turn (`asked`; what it yields after the first object was asked in the same syntax).
 * `refused` (with the header of what the last try gave, for the 406's words) when none can be had; `done`
 * when there is no object.
 */
export async function firstAcceptable(
  backend: DicomwebBackend,
  query: RetrieveQuery,
  acceptable: string[],
): Promise<
  | { objects: AsyncIterator<RetrievedObject>; first: RetrievedObject; asked: string }
  | { done: true }
  | { refused: RetrievedObject["header"] }
> {
  let refused: RetrievedObject["header"] | undefined;
  for (const wanted of acceptable) {
    if (refused && wanted === "*") break; // as stored was taken by the check below already
    const objects = backend.wado.retrieve(
      { ...query, ...(wanted === "*" ? {} : { transferSyntax: wanted }) },
    )[Symbol.asyncIterator]();
    const first = await objects.next();
    if (first.done) return { done: true };
    if (takes(acceptable, first.value)) return { objects, first: first.value, asked: wanted };
    refused = first.value.header;
    await objects.return?.(undefined);
  }
  return { refused: refused! };
}

/**
 * `o` in a syntax the Accept takes: as it came, or asked again of the site, alone, in each syntax of the
 * Accept after the one the stream was asked in (a study of mixed objects: one the stream's syntax does not
 * suit). Its bytes as stored are read through first (the stream's next object follows them). Undefined when
 * none can be had.
 */
export async function acceptableCopy(
  backend: DicomwebBackend,
  query: RetrieveQuery,
  o: RetrievedObject,
  later: string[],
  acceptable: string[],
): Promise<RetrievedObject | undefined> {
  if (takes(acceptable, o)) return o;
  for await (const _ of o.bytes) { /* skipped */ }
  for (const wanted of later) {
    if (wanted === "*") continue;
    const again = backend.wado.retrieve({
      studyInstanceUid: query.studyInstanceUid,
      sopInstanceUid: o.header.sopInstanceUid,
      transferSyntax: wanted,
    })[Symbol.asyncIterator]();
    const got = await again.next();
    if (!got.done && takes(acceptable, got.value)) {
      const copy = got.value;
      return {
        header: copy.header,
        bytes: (async function* () {
          try {
            yield* copy.bytes;
          } finally {
            await again.return?.(undefined);
          }
        })(),
      };
    }
    if (!got.done) { for await (const _ of got.value.bytes) { /* skipped */ } }
    await again.return?.(undefined);
  }
  return undefined;
}
