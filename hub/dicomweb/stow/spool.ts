/**
 * The STOW-RS spool (`<data>/spool`): each part is written to its own file as it arrives, so memory
 * stays flat whatever its size, and the file is removed once the part has gone to the site, or at
 * once when anything fails: a body that breaks off, a client that goes silent (`guardedBody`), a
 * body over the limit. What a crash leaves is swept at start (`sweepSpool`). No part, whole or cut,
 * stays on the hub's disk.
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { constants, inflateRawSync } from "node:zlib";
import type { Logger } from "@conduit/shared/log";
import { encodingOf, instanceAttributes, parseDataSet, readPart10Header } from "@conduit/shared/dicom";
import type { ObjectHeader } from "@conduit/shared/tunnel";
import { HttpError } from "../http.ts";

/** Bytes of a part read before its header is parsed. */
const PREFIX = 1024 * 1024;
const PIXEL_DATA = 0x7fe00010;
/** Where a deflated part's header is read to: past the UIDs the spool needs (Series Instance UID). */
const AFTER_UIDS = 0x00200010;
/** The most a deflated part's first bytes are inflated to here. */
const MAX_INFLATED = 8 * 1024 * 1024;

/**
 * The start of a deflated data set (PS3.5 A.5), inflated from the first compressed bytes: all of
 * them, or, when they would inflate past MAX_INFLATED (highly compressible pixel data), as few as
 * cannot (deflate expands at most 1032 times); the header comes first either way.
 */
function inflatedStart(compressed: Uint8Array): Uint8Array {
  const inflate = (bytes: Uint8Array) =>
    new Uint8Array(
      inflateRawSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_INFLATED }),
    );
  try {
    return inflate(compressed);
  } catch (err) {
    if (!(err instanceof RangeError)) throw err;
    return inflate(compressed.subarray(0, Math.floor(MAX_INFLATED / 1032)));
  }
}

export interface Spooled {
  header?: ObjectHeader;
  datasetOffset: number;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  error?: string;
}

/** A new, empty spool file (the caller removes it in the `finally` of the `try` it is made in). */
export async function spoolFile(dir: string): Promise<string> {
  await fs.promises.mkdir(dir, { recursive: true });
  return await Deno.makeTempFile({ dir, prefix: "stow-", suffix: ".part" });
}

/**
 * Writes one part's bytes to `file` as they arrive, hashing the data set, and reads its File Meta
 * group and header. `budget.left` is what the request may still send (413 beyond).
 */
export async function spoolPart(
  body: AsyncIterable<Uint8Array>,
  file: string,
  budget: { left: number },
): Promise<Spooled> {
  const out = await Deno.open(file, { write: true, truncate: true });
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
      for (let at = 0; at < chunk.byteLength;) at += await out.write(chunk.subarray(at));
      if (datasetOffset >= 0) hash.update(chunk);
      else {
        prefix.push(chunk);
        prefixBytes += chunk.byteLength;
        if (prefixBytes >= PREFIX) head = startHashing();
      }
    }
  } finally {
    out.close();
  }
  if (datasetOffset < 0) head = startHashing();
  const spooled: Spooled = { datasetOffset };
  try {
    const meta = readPart10Header(head!);
    if (!meta.sopClassUid || !meta.sopInstanceUid || !meta.hasPreamble) {
      return {
        ...spooled,
        error: "not a DICOM Part 10 object (no File Meta group with SOP Class and Instance UIDs)",
      };
    }
    const encoding = encodingOf(meta.transferSyntax);
    // A deflated data set is read inflated (else its UIDs are compressed bytes), up to its UIDs.
    const bytes = encoding.deflated ? inflatedStart(head!.subarray(meta.datasetOffset)) : head!;
    const { dataset } = parseDataSet(bytes, encoding, {
      start: encoding.deflated ? 0 : meta.datasetOffset,
      stopAtTag: encoding.deflated ? AFTER_UIDS : PIXEL_DATA,
    });
    const attrs = instanceAttributes(bytes, dataset, meta);
    spooled.studyInstanceUid = attrs.studyInstanceUid;
    spooled.seriesInstanceUid = attrs.seriesInstanceUid;
    // The data set's own UIDs win over the File Meta group's (some files disagree; the site checks
    // the data set against what it is told, and writes a fresh File Meta group from these).
    spooled.header = {
      type: "object",
      sopInstanceUid: attrs.sopInstanceUid || meta.sopInstanceUid,
      sopClassUid: attrs.sopClassUid || meta.sopClassUid,
      transferSyntax: meta.transferSyntax,
      size: total - meta.datasetOffset,
      sha256: hash.digest("hex"),
    };
  } catch (err) {
    spooled.error = `not a readable DICOM object: ${(err as Error).message}`;
  }
  return spooled;
}

/** The request body stopped: the client went away or went silent. */
export class BodyError extends HttpError {
  override name = "BodyError";
}

/**
 * The request body, read on demand, with an idle timeout: a client that sends nothing for `idleMs`
 * while the hub waits for its bytes gets 408, and a body that breaks off (the client went away)
 * becomes a 400 naming it, so that the spool removes its file and the log says what happened.
 */
export function guardedBody(body: ReadableStream<Uint8Array>, idleMs: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new BodyError(408, `the client sent nothing for ${idleMs / 1000} s; the upload was dropped`),
            ),
          idleMs,
        );
      });
      try {
        const r = await Promise.race([reader.read(), idle]);
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      } catch (err) {
        reader.cancel().catch(() => {});
        controller.error(
          err instanceof HttpError
            ? err
            : new BodyError(400, `the request body broke off: ${(err as Error).message}`),
        );
      } finally {
        clearTimeout(timer);
      }
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** Removes what an earlier run left in the spool (parts in transit when it stopped). */
export async function sweepSpool(dir: string, log: Logger): Promise<void> {
  let removed = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      await fs.promises.rm(path.join(dir, entry.name), { recursive: true, force: true });
      removed++;
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  if (removed) log.info("removed STOW parts left in the spool by an earlier run", { count: removed });
}
