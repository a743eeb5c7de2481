import assert from "node:assert/strict";
import { noProxyMatches, parseProxyUrl, proxyFor, ProxySettingError, proxyUrlProblem } from "./proxy.ts";
import { loadConfig } from "../config/load.ts";

Deno.test("a proxy URL: http://[user:password@]host:port, credentials decoded, nothing else taken", () => {
  assert.deepEqual(parseProxyUrl("http://proxy.example.org:3128", "hub.proxy"), {
    host: "proxy.example.org",
    port: 3128,
    source: "hub.proxy",
  });
  assert.deepEqual(parseProxyUrl("http://gw%40site:p%3As%20s@10.0.0.1:8080/", "HTTPS_PROXY"), {
    host: "10.0.0.1",
    port: 8080,
    auth: { user: "gw@site", password: "p:s s" },
    source: "HTTPS_PROXY",
  });
  // A bare host:port, as many tools take it; port 80 when none is given; an IPv6 literal.
  assert.equal((parseProxyUrl("proxy:3128", "x") as { port: number }).port, 3128);
  assert.equal((parseProxyUrl("http://proxy", "x") as { port: number }).port, 80);
  assert.equal((parseProxyUrl("http://[::1]:3128", "x") as { host: string }).host, "::1");
  assert.match(proxyUrlProblem("https://proxy:3128")!, /https:\/\/ proxy .* not supported/);
  assert.match(proxyUrlProblem("socks5://proxy:1080")!, /socks5:\/\/ proxies are not supported/);
  assert.match(proxyUrlProblem("http://proxy:3128/path")!, /no path/);
  assert.match(proxyUrlProblem("http://proxy:99999")!, /not a proxy URL/);
  // A reason never repeats the password.
  for (
    const bad of ["http://u:hunter2@proxy:3128/x", "https://u:hunter2@proxy:3128", "http://u:hun%zz@p:1"]
  ) {
    assert.ok(!proxyUrlProblem(bad)!.includes("hunter2") && !proxyUrlProblem(bad)!.includes("hun%zz"), bad);
  }
});

Deno.test("NO_PROXY: *, hosts and the names under them, with or without a leading dot, ports", () => {
  assert.ok(noProxyMatches("*", "hub.example.org", 443));
  assert.ok(noProxyMatches("example.org", "hub.example.org", 443));
  assert.ok(noProxyMatches("localhost, .example.org", "hub.example.org", 443));
  assert.ok(noProxyMatches("*.example.org", "HUB.Example.org", 443));
  assert.ok(noProxyMatches("hub.example.org", "hub.example.org", 8443));
  assert.ok(noProxyMatches("hub.example.org:8443", "hub.example.org", 8443));
  assert.ok(!noProxyMatches("hub.example.org:8443", "hub.example.org", 443));
  assert.ok(!noProxyMatches("example.org", "badexample.org", 443));
  assert.ok(!noProxyMatches("10.0.0.1", "10.0.0.10", 443));
  assert.ok(noProxyMatches("127.0.0.1 ::1", "[::1]", 443));
  assert.ok(!noProxyMatches("", "hub", 443));
});

Deno.test("the proxy for a hub: hub.proxy, else the scheme's variable, unless NO_PROXY names the hub", () => {
  const wss = "wss://hub.example.org/tunnel";
  const env = { HTTPS_PROXY: "http://env-proxy:3128", http_proxy: "http://plain-proxy:8080" };
  assert.equal(proxyFor(wss, "http://cfg-proxy:3128", env)?.host, "cfg-proxy");
  assert.equal(proxyFor(wss, undefined, env)?.host, "env-proxy");
  assert.equal(proxyFor(wss, undefined, env)?.source, "HTTPS_PROXY");
  // The lower-case variable wins, as with curl.
  assert.equal(proxyFor(wss, undefined, { ...env, https_proxy: "lower:1" })?.host, "lower");
  assert.equal(proxyFor("ws://hub.example.org:8080/tunnel", undefined, env)?.host, "plain-proxy");
  assert.equal(proxyFor(wss, undefined, {}), undefined);
  assert.equal(proxyFor(wss, "http://cfg-proxy:3128", { NO_PROXY: ".example.org" }), undefined);
  assert.equal(proxyFor(wss, undefined, { ...env, no_proxy: "*" }), undefined);
  // A variable that is not a proxy URL stops the start, named, without its password.
  assert.throws(
    () => proxyFor(wss, undefined, { HTTPS_PROXY: "https://u:hunter2@proxy:3128" }),
    (err: Error) =>
      err instanceof ProxySettingError && /^HTTPS_PROXY \(environment\): an https:\/\//.test(err.message) &&
      !err.message.includes("hunter2"),
  );
});

Deno.test("hub.proxy in the configuration: a flag, a variable, the file; a bad one named without its password", () => {
  const files = (m: Record<string, string>) => (p: string) => m[p];
  const { config } = loadConfig({
    flags: { "hub-proxy": "http://proxy:3128" },
    env: {},
    readFile: files({}),
  });
  assert.equal(config.hub.proxy, "http://proxy:3128");
  const fromEnv = loadConfig({
    flags: {},
    env: { CONDUIT_AGENT_HUB_PROXY: "http://p:1" },
    readFile: files({}),
  });
  assert.equal(fromEnv.config.hub.proxy, "http://p:1");
  assert.throws(
    () =>
      loadConfig({
        flags: { config: "a.yaml" },
        env: {},
        readFile: files({ "a.yaml": "hub:\n  proxy: http://gw:hunter2@proxy:3128/x\n" }),
      }),
    (err: Error) =>
      /^config: hub\.proxy: a proxy URL has no path/.test(err.message) &&
      /gw:\*\*\*@proxy/.test(err.message) &&
      !err.message.includes("hunter2") && /a\.yaml, line 2/.test(err.message),
  );
});
