import assert from "node:assert/strict";
import { hubUrls, hubUrlsProblem } from "./hub_urls.ts";
import { configSchema } from "../config/schema.ts";

Deno.test("--hub takes one tunnel URL or several, comma-separated, in order", () => {
  assert.deepEqual(hubUrls("wss://a/tunnel"), ["wss://a/tunnel"]);
  assert.deepEqual(hubUrls(" wss://a/tunnel, wss://b/tunnel ,"), ["wss://a/tunnel", "wss://b/tunnel"]);
  assert.deepEqual(hubUrls(undefined), []);
  assert.equal(hubUrlsProblem("wss://a/tunnel,ws://127.0.0.1:8080/tunnel"), undefined);
  assert.match(hubUrlsProblem("wss://a/tunnel,hub-b")!, /"hub-b" is not a URL/);
  assert.match(hubUrlsProblem("ftp://a/tunnel")!, /wss:\/\//);
  assert.match(hubUrlsProblem(" , ")!, /give the hub's tunnel URL/);
  // A bare host (the console's address) has no tunnel: it failed enrollment with "404: Not Found".
  assert.equal(
    hubUrlsProblem("ws://127.0.0.1:8080"),
    '"ws://127.0.0.1:8080": the hub\'s tunnel URL ends in /tunnel (ws://127.0.0.1:8080/tunnel)',
  );
  assert.match(hubUrlsProblem("wss://hub.example.org/")!, /\(wss:\/\/hub\.example\.org\/tunnel\)/);
  assert.equal(hubUrlsProblem("wss://proxy.example.org/conduit/tunnel"), undefined);
});

Deno.test("a bad URL in hub.url is a configuration error naming it", () => {
  const r = configSchema.safeParse({ hub: { url: "wss://a/tunnel,nope" } });
  assert.equal(r.success, false);
  assert.match(JSON.stringify(r.error!.issues), /\\"nope\\" is not a URL/);
  assert.equal(configSchema.safeParse({ hub: { url: "wss://a/tunnel,wss://b/tunnel" } }).success, true);
});
