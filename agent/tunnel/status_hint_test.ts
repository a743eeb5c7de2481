import assert from "node:assert/strict";
import { statusHint } from "./socket.ts";

const noTunnel = /no tunnel there/;
const proxy = /a proxy answered/;

Deno.test("statusHint: the hub's own pages (any status) say no tunnel there; a bare 502-504 says a proxy", () => {
  assert.match(statusHint(200), noTunnel, "the console answers 200 at a path it does not know");
  assert.match(statusHint(404), noTunnel);
  const notBuilt = "<!doctype html><title>Conduit</title><p>The console is not built: run ...</p>";
  assert.match(statusHint(503, notBuilt), noTunnel, "the hub without a console build");
  assert.match(statusHint(503), proxy);
  assert.match(statusHint(502, "<html><title>502 Bad Gateway</title></html>"), proxy);
  assert.equal(statusHint(500), "");
});
