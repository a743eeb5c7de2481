/**
 * A DICOMweb answer read over a raw HTTP/1.1 connection, for tests of a client that stops reading (the hub's
 * stall bound) and of how an answer cut short ends on the wire.
 */
import assert from "node:assert/strict";

/** What WADO-RS retrievals of whole objects ask for. */
export const ACCEPT_DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*';

/** A raw HTTP/1.1 GET whose answer's head has been read (and nothing of its body beyond what came with it). */
export async function openAnswer(
  port: number,
  path: string,
  token: string,
  accept = ACCEPT_DICOM,
): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nAccept: ${accept}\r\n\r\n`,
  ));
  let head = "";
  const buf = new Uint8Array(1024);
  while (!head.includes("\r\n\r\n")) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`the hub closed the connection before the head: ${head}`);
    head += new TextDecoder().decode(buf.subarray(0, n));
  }
  assert.match(head, /^HTTP\/1\.1 200/, head);
  return conn;
}

/** Reads `conn` until the hub ends it: how many bytes came, and the last (at most 200) of them as text. */
export async function readToEnd(conn: Deno.TcpConn): Promise<{ total: number; tail: string }> {
  let tail = new Uint8Array(0);
  let total = 0;
  const buf = new Uint8Array(256 * 1024);
  while (true) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    total += n;
    tail = buf.slice(Math.max(0, n - 200), n);
  }
  return { total, tail: new TextDecoder().decode(tail) };
}
