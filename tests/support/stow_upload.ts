/**
 * STOW-RS uploads: a whole body of one part (stowBody), or, over a raw TCP connection, for tests of a client
 * that breaks off or goes silent mid-body, the request's head and the first bytes of its body, the rest the
 * test's to send or not.
 */

export const STOW_BOUNDARY = "sPoOl";
export const STOW_CONTENT_TYPE = `multipart/related; type="application/dicom"; boundary=${STOW_BOUNDARY}`;
const enc = new TextEncoder();

/** The head of a multipart part holding a DICOM object. */
export const partHead = (): Uint8Array<ArrayBuffer> =>
  enc.encode(`--${STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`);

/** A whole STOW-RS body of one part holding `bytes` (a Part 10 file), for `STOW_CONTENT_TYPE`. */
export function stowBody(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const head = partHead();
  const tail = enc.encode(`\r\n--${STOW_BOUNDARY}--\r\n`);
  const out = new Uint8Array(head.length + bytes.length + tail.length);
  out.set(head), out.set(bytes, head.length), out.set(tail, head.length + bytes.length);
  return out;
}

/** Opens a connection to the hub on `port` and sends a STOW request's head and the first bytes of its body. */
export async function startUpload(
  port: number,
  token: string,
  contentLength: number | "chunked",
  first: Uint8Array,
  site = "north",
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const length = contentLength === "chunked"
    ? "Transfer-Encoding: chunked"
    : `Content-Length: ${contentLength}`;
  const head = `POST /dicomweb/sites/${site}/studies HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Authorization: Bearer ${token}\r\nContent-Type: ${STOW_CONTENT_TYPE}\r\n${length}\r\n\r\n`;
  await conn.write(enc.encode(head));
  for (let at = 0; at < first.length;) at += await conn.write(first.subarray(at));
  return conn;
}

/** The status line of the answer on `conn`, or undefined if none comes within `ms`. */
export async function statusOf(conn: Deno.TcpConn, ms: number): Promise<number | undefined> {
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    const n = await conn.read(buf);
    if (!n) return undefined;
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(new TextDecoder().decode(buf.subarray(0, n)))?.[1]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
