/**
 * multipart/related, both ways, streaming: `parseMultipart` yields each part's headers and a byte
 * stream (read it to the end before asking for the next part) without holding a part in memory;
 * `multipartParts` frames parts for a response body.
 */

export class MultipartError extends Error {
  override name = "MultipartError";
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The boundary and `type` of a multipart/related Content-Type, or undefined if it is not one. */
export function multipartRelated(
  contentType: string | undefined,
): { boundary: string; type?: string } | undefined {
  if (!contentType || !/^\s*multipart\/related\s*(;|$)/i.test(contentType)) return undefined;
  const param = (name: string) => {
    const m = new RegExp(`;\\s*${name}\\s*=\\s*("([^"]*)"|[^;\\s]+)`, "i").exec(contentType);
    return m ? (m[2] ?? m[1]) : undefined;
  };
  const boundary = param("boundary");
  if (!boundary) return undefined;
  return { boundary, type: param("type")?.toLowerCase() };
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  outer: for (
    let i = haystack.indexOf(first, from);
    i !== -1 && i <= haystack.length - needle.length;
    i = haystack.indexOf(first, i + 1)
  ) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const LF_LF = encoder.encode("\n\n");
/** The error of a body whose lines end with LF alone. */
const LF_ONLY = "its lines end with LF alone, and multipart/related delimits parts and headers with CRLF " +
  "(RFC 2046 5.1.1); send them with CRLF";

export interface Part {
  headers: Headers;
  body: AsyncIterable<Uint8Array>;
}

/** Parses a multipart body; throws MultipartError on a malformed one. */
export async function* parseMultipart(
  stream: ReadableStream<Uint8Array>,
  boundary: string,
): AsyncGenerator<Part> {
  const reader = stream.getReader();
  let buf: Uint8Array = new Uint8Array(0);
  let done = false;
  const more = async (): Promise<boolean> => {
    if (done) return false;
    const r = await reader.read();
    if (r.done) {
      done = true;
      return false;
    }
    buf = concat(buf, r.value);
    return true;
  };
  const delimiter = encoder.encode(`\r\n--${boundary}`);
  // The first boundary may start the body without the leading CRLF, or end a preamble whose lines end with
  // LF alone (the preamble is dropped, so no byte of a part is in doubt).
  buf = concat(encoder.encode("\r\n"), buf);
  const first = encoder.encode(`\n--${boundary}`);
  let at: number;
  while ((at = indexOf(buf, first)) === -1) {
    if (buf.length > 64 * 1024) throw new MultipartError("no multipart boundary in the first 64 KiB");
    if (!(await more())) throw new MultipartError("no multipart boundary in the body");
  }
  buf = buf.subarray(at + first.length);
  try {
    while (true) {
      while (buf.length < 2 && (await more()));
      if (buf[0] === 0x2d && buf[1] === 0x2d) return; // "--": the closing delimiter
      // A boundary line ended by LF alone: the body's lines are not CRLF, which its parts cannot be cut by
      // without guessing whether a part's last byte is data (until 2026-12-07: "headers are cut short").
      if (buf[0] === 0x0a) throw new MultipartError(LF_ONLY);
      const headerEnd = encoder.encode("\r\n\r\n");
      let h: number;
      for (;;) {
        h = indexOf(buf, headerEnd);
        // Headers ended by an empty line of LF alone (before any CRLF pair, which may then lie in the part's
        // bytes): said as such, not as headers too long or cut short.
        if (indexOf(buf.subarray(0, h === -1 ? 16 * 1024 : h), LF_LF) !== -1) {
          throw new MultipartError(LF_ONLY);
        }
        if (h !== -1) break;
        if (buf.length > 16 * 1024) throw new MultipartError("a part's headers are longer than 16 KiB");
        if (!(await more())) throw new MultipartError("a part's headers are cut short");
      }
      const headers = new Headers();
      for (const line of decoder.decode(buf.subarray(0, h)).split("\r\n").slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
      }
      buf = buf.subarray(h + 4);
      let finished = false;
      const body = (async function* () {
        while (true) {
          const d = indexOf(buf, delimiter);
          if (d !== -1) {
            if (d > 0) yield buf.slice(0, d);
            buf = buf.subarray(d + delimiter.length);
            finished = true;
            return;
          }
          // Keep a tail that could be the start of the delimiter.
          const safe = buf.length - (delimiter.length - 1);
          if (safe > 0) {
            const out = buf.slice(0, safe);
            buf = buf.subarray(safe);
            yield out;
          }
          if (!(await more())) throw new MultipartError("the body ends inside a part (no closing boundary)");
        }
      })();
      yield { headers, body };
      if (!finished) { for await (const _ of body) { /* skip what the caller did not read */ } }
    }
  } finally {
    reader.releaseLock();
    await stream.cancel().catch(() => {});
  }
}

/**
 * How far a response body reads ahead of the client: while the server writes one chunk, the next
 * ones are already coming from the site (with nothing read ahead, the two took turns).
 */
const READ_AHEAD = 1024 * 1024;

/** A multipart/related response body from parts given as headers and byte streams. */
export function multipartBody(
  boundary: string,
  parts: AsyncIterable<{ contentType: string; bytes: AsyncIterable<Uint8Array> }>,
  onError: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  const iterator = parts[Symbol.asyncIterator]();
  let inner: AsyncIterator<Uint8Array> | undefined;
  /**
   * Whether the client gave the body up (went away, or a HEAD): the read ahead under way then fails as the
   * site's stream is closed, which is no answer cut short (until 2026-12-06 each was logged as one).
   */
  let cancelled = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        while (true) {
          if (inner) {
            const r = await inner.next();
            if (!r.done) return controller.enqueue(r.value);
            inner = undefined;
            controller.enqueue(encoder.encode("\r\n"));
            continue;
          }
          const next = await iterator.next();
          if (next.done) {
            controller.enqueue(encoder.encode(`--${boundary}--\r\n`));
            return controller.close();
          }
          controller.enqueue(
            encoder.encode(`--${boundary}\r\nContent-Type: ${next.value.contentType}\r\n\r\n`),
          );
          inner = next.value.bytes[Symbol.asyncIterator]();
        }
      } catch (err) {
        if (cancelled) return;
        onError(err);
        controller.error(err);
      }
    },
    async cancel() {
      cancelled = true;
      await iterator.return?.();
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: READ_AHEAD }));
}

/** One part's bytes as a response body; the answer after it (`rest`) is closed at its end or on cancel. */
export function singlePartBody(
  bytes: AsyncIterable<Uint8Array>,
  rest: AsyncIterator<unknown>,
  onError: (err: unknown) => void,
): ReadableStream<Uint8Array> {
  return ReadableStream.from((async function* () {
    try {
      yield* bytes;
    } catch (err) {
      onError(err);
      throw err;
    } finally {
      await rest.return?.(undefined);
    }
  })());
}
