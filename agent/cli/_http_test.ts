import assert from "node:assert/strict";
import { agentCommandFailure, agentFetch, NotTheAgentError } from "./_http.ts";

Deno.test("agentFetch(): a web page where the agent's API should be is said to be another program", async () => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/json"
        ? Response.json({ ok: true })
        : new Response("<!doctype html><title>console</title>", { headers: { "content-type": "text/html" } }),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    assert.deepEqual(await (await agentFetch(`${base}/json`)).json(), { ok: true });
    // Until 2026-12-07: "Unexpected token '<' ... is not valid JSON", exit code 2.
    const err = await agentFetch(`${base}/queue/summary`).then(() => undefined, (e) => e);
    assert.ok(err instanceof NotTheAgentError, String(err));
    assert.match(
      err.message,
      /answered with a web page, not as the agent's API: is that the agent's HTTP port/,
    );
    const errors: string[] = [];
    const log = console.error;
    console.error = (m: string) => errors.push(m);
    try {
      assert.equal(agentCommandFailure("agent queue", "usage", base, err), 1);
    } finally {
      console.error = log;
    }
    assert.match(errors[0], /^agent queue: http:\/\/127\.0\.0\.1:\d+ answered with a web page/);
  } finally {
    await server.shutdown();
  }
});
