import assert from "node:assert/strict";
import { parseMultipart } from "./multipart.ts";

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

async function parts(body: Uint8Array, chunk: number) {
  const out: { type: string | null; body: Uint8Array }[] = [];
  for await (const p of parseMultipart(streamOf(body, chunk), "b")) {
    const pieces: Uint8Array[] = [];
    for await (const c of p.body) pieces.push(c);
    const all = new Uint8Array(pieces.reduce((n, x) => n + x.length, 0));
    let o = 0;
    for (const x of pieces) all.set(x, o), o += x.length;
    out.push({ type: p.headers.get("content-type"), body: all });
  }
  return out;
}

Deno.test("parseMultipart() finds every part whatever the chunk size, large parts included", async () => {
  const enc = new TextEncoder();
  const big = new Uint8Array(300_000).map((_, i) => i % 251);
  const body = new Uint8Array(
    await new Blob([
      enc.encode("--b\r\nContent-Type: application/dicom\r\n\r\n"),
      big,
      enc.encode("\r\n--b\r\nContent-Type: text/plain\r\n\r\nsmall\r\n--b--\r\n"),
    ]).arrayBuffer(),
  );
  for (const chunk of [1, 7, 1000, 65_536, 1_000_000]) {
    const got = await parts(body, chunk);
    assert.equal(got.length, 2, `chunk ${chunk}`);
    assert.deepEqual(got[0].body, big);
    assert.equal(got[1].type, "text/plain");
    assert.equal(new TextDecoder().decode(got[1].body), "small");
  }
});

Deno.test("parseMultipart() refuses a body without a closing boundary", async () => {
  const body = new TextEncoder().encode("--b\r\nContent-Type: x\r\n\r\nunfinished");
  await assert.rejects(parts(body, 4), /closing boundary/);
});

Deno.test("parseMultipart() refuses a body whose lines end with LF alone, saying so (not 'headers cut short')", async () => {
  const lf = new TextEncoder().encode("--b\nContent-Type: application/dicom\n\nDICM...\n--b--\n");
  await assert.rejects(parts(lf, 4), /LF alone.*CRLF/);
  // Headers with LF alone after a CRLF boundary line: the same reason.
  const mixed = new TextEncoder().encode("--b\r\nContent-Type: application/dicom\n\nDICM...\r\n--b--\r\n");
  await assert.rejects(parts(mixed, 64), /LF alone/);
});

Deno.test("parseMultipart(): LF-only headers after a CRLF boundary line are named as such in a long body; a preamble's lines may end with LF", async () => {
  const enc = new TextEncoder();
  const big = new Uint8Array(40 * 1024).fill(0x41);
  const lfHeaders = new Uint8Array([
    ...enc.encode("--b\r\nContent-Type: application/dicom\n\n"),
    ...big,
    ...enc.encode("\r\n--b--\r\n"),
  ]);
  await assert.rejects(parts(lfHeaders, 1024), /LF alone/);
  const preamble = enc.encode("a preamble\n--b\r\nContent-Type: text/plain\r\n\r\nsmall\r\n--b--\r\n");
  const got = await parts(preamble, 4);
  assert.equal(got.length, 1);
  assert.equal(new TextDecoder().decode(got[0].body), "small");
});
