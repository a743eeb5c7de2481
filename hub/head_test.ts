import assert from "node:assert/strict";
import { Hono } from "hono";
import { withHead } from "./head.ts";

/** A Hono app whose GET /stream streams until cancelled, and GET /exact has a known length. */
function app() {
  const cancelled: string[] = [];
  const hono = new Hono();
  hono.get("/stream", () =>
    new Response(
      new ReadableStream({
        pull: (c) => c.enqueue(new Uint8Array(1024)),
        cancel: () => void cancelled.push("stream"),
      }),
      { headers: { "content-type": "multipart/related" } },
    ));
  hono.get("/exact", (c) => c.body("hello", 200, { "content-type": "text/plain", "content-length": "5" }));
  return { hono, cancelled };
}

Deno.test("withHead(): HEAD cancels the GET answer's body and keeps its headers, no content-length: 0", async () => {
  const { hono, cancelled } = app();
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, withHead(hono.fetch));
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const head = await fetch(`${base}/stream`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-type"), "multipart/related");
    assert.equal(head.headers.get("content-length"), null, "a streamed answer's length is not claimed");
    assert.deepEqual(cancelled, ["stream"], "the GET answer's stream was cancelled");
    const exact = await fetch(`${base}/exact`, { method: "HEAD" });
    assert.equal(exact.headers.get("content-length"), "5");
    assert.equal(await exact.text(), "");
    const get = await fetch(`${base}/exact`);
    assert.equal(await get.text(), "hello", "GET is untouched");
    const missing = await fetch(`${base}/nope`, { method: "HEAD" });
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    await server.shutdown();
  }
});
