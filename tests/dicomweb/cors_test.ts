/**
 * CORS for the hub's DICOMweb (`dicomweb.cors`, hub/dicomweb/cors.ts) over plain HTTP, against a real hub
 * with one site: preflights answered before authentication for an allowed origin and refused (403, no
 * CORS header) for another, every answer under /dicomweb to an allowed origin readable by its page (errors
 * too), never `Access-Control-Allow-Credentials`, nothing on /trpc, /auth, the viewer or the console, and
 * nothing at all from a hub without the setting. The browser's side: tests/console/cors_browser_test.ts.
 */
import assert from "node:assert/strict";
import { skipReason } from "../support/peers.ts";
import { sharedRig } from "../support/shared_rig.ts";
import { startTestHub } from "../support/hub.ts";
import { SESSION_COOKIE } from "../../hub/auth/users.ts";
import { CT, CT_STUDY } from "./_dicomweb.ts";
import { type OneSite, oneSite, stopOneSite } from "./_one_site.ts";

const ALLOWED = "https://viewer.example";
const OTHER = "https://evil.example";

const skip = skipReason("storescu");
if (skip) console.warn(`cors_test: skipped: ${skip}`);

const shared = sharedRig<OneSite>({
  skip,
  setUp: () =>
    oneSite([CT], {}, { cors: { origins: [ALLOWED, "http://10.0.0.5:3000"], maxAgeSeconds: 1234 } }),
  stop: stopOneSite,
});

/** A request to the hub (`p` from its root), from `origin` when given, with `token` when given. */
async function call(
  r: OneSite,
  p: string,
  init: { method?: string; origin?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`http://127.0.0.1:${r.hub.port}${p}`, {
    method: init.method ?? "GET",
    headers: {
      ...(init.origin ? { origin: init.origin } : {}),
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...init.headers,
    },
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const preflight = (r: OneSite, p: string, origin: string, method = "GET", headers = "authorization") =>
  call(r, p, {
    method: "OPTIONS",
    origin,
    headers: { "access-control-request-method": method, "access-control-request-headers": headers },
  });

/** The response's `access-control-*` headers. */
const corsHeaders = (h: Headers) => [...h.keys()].filter((k) => k.startsWith("access-control-"));

const varies = (h: Headers) => (h.get("vary") ?? "").split(",").map((v) => v.trim().toLowerCase());

shared.test("a preflight from an allowed origin is answered before authentication, for every DICOMweb path", async (r) => {
  // The hub's start names the allowed origins.
  const started = r.hub.lines.find((l) => l.includes("hub started"));
  assert.match(started!, /"dicomwebCorsOrigins":\["https:\/\/viewer\.example","http:\/\/10\.0\.0\.5:3000"\]/);
  for (
    const [p, method, headers] of [
      ["/dicomweb/sites/north/studies", "GET", "authorization"],
      ["/dicomweb/studies", "GET", "accept,authorization"],
      ["/dicomweb/sites/north/studies/", "GET", "authorization"],
      ["/dicomweb", "GET", "authorization"],
      [`/dicomweb/sites/north/studies/${CT_STUDY}/metadata`, "GET", "authorization"],
      ["/dicomweb/sites/north/studies", "POST", "authorization,content-type"],
    ]
  ) {
    const res = await preflight(r, p, ALLOWED, method, headers);
    assert.equal(res.status, 204, `${method} ${p}: ${res.body}`);
    assert.equal(res.body, "");
    const h = res.headers;
    assert.equal(h.get("access-control-allow-origin"), ALLOWED, p);
    assert.equal(h.get("access-control-allow-methods"), "GET, HEAD, POST, DELETE");
    const allowedHeaders = h.get("access-control-allow-headers")!.toLowerCase().split(/,\s*/);
    for (const want of ["authorization", "accept", "content-type"]) {
      assert.ok(allowedHeaders.includes(want), want);
    }
    assert.ok(!allowedHeaders.includes("x-csrf-token"), "the console's CSRF header is not for other origins");
    assert.equal(h.get("access-control-max-age"), "1234");
    assert.equal(h.get("access-control-allow-credentials"), null);
    assert.ok(varies(h).includes("origin"));
  }
  // The other configured origin, with a port; and a public page asking a private address (Chromium).
  const ported = await preflight(r, "/dicomweb/studies", "http://10.0.0.5:3000");
  assert.equal(ported.headers.get("access-control-allow-origin"), "http://10.0.0.5:3000");
  const pna = await call(r, "/dicomweb/studies", {
    method: "OPTIONS",
    origin: ALLOWED,
    headers: { "access-control-request-method": "GET", "access-control-request-private-network": "true" },
  });
  assert.equal(pna.headers.get("access-control-allow-private-network"), "true");
  assert.equal(
    (await preflight(r, "/dicomweb/studies", ALLOWED)).headers.get("access-control-allow-private-network"),
    null,
  );
});

shared.test("a preflight from another origin is refused: 403, a problem object, no CORS header", async (r) => {
  for (
    const origin of [OTHER, "https://viewer.example:8443", "http://viewer.example", "null", ALLOWED + "/"]
  ) {
    const res = await preflight(r, "/dicomweb/sites/north/studies", origin);
    assert.equal(res.status, 403, origin);
    assert.equal(res.headers.get("content-type"), "application/problem+json");
    assert.match(JSON.parse(res.body).detail, /may not use this hub's DICOMweb \(dicomweb\.cors\.origins/);
    assert.deepEqual(corsHeaders(res.headers), [], origin);
    assert.ok(varies(res.headers).includes("origin"));
  }
  // Logged at debug with the origin alone (a path holds UIDs).
  const refusals = r.hub.lines.filter((l) => l.includes("CORS preflight refused"));
  assert.ok(refusals.some((l) => l.includes(OTHER)), refusals.join("\n"));
  assert.ok(!refusals.some((l) => l.includes("/studies")), refusals.join("\n"));
  // An OPTIONS that is no preflight (no Access-Control-Request-Method) is an ordinary request: 401.
  const plain = await call(r, "/dicomweb/studies", { method: "OPTIONS", origin: ALLOWED });
  assert.equal(plain.status, 401);
});

shared.test("QIDO-RS and WADO-RS metadata from an allowed origin carry its CORS headers, never credentials", async (r) => {
  const qido = await call(r, "/dicomweb/sites/north/studies", { origin: ALLOWED, token: r.token });
  assert.equal(qido.status, 200, qido.body);
  assert.equal(JSON.parse(qido.body).length, 1);
  const meta = await call(r, `/dicomweb/sites/north/studies/${CT_STUDY}/metadata`, {
    origin: ALLOWED,
    token: r.token,
  });
  assert.equal(meta.status, 200, meta.body);
  for (const res of [qido, meta]) {
    const h = res.headers;
    assert.equal(h.get("access-control-allow-origin"), ALLOWED);
    const exposed = h.get("access-control-expose-headers")!.toLowerCase().split(/,\s*/);
    for (
      const want of ["warning", "content-location", "content-length", "content-type", "www-authenticate"]
    ) {
      assert.ok(exposed.includes(want), want);
    }
    assert.equal(h.get("access-control-allow-credentials"), null);
    assert.ok(varies(h).includes("origin"));
    // The hub's own headers stay.
    assert.equal(h.get("x-content-type-options"), "nosniff");
  }
  // HEAD is answered as GET, with the same headers.
  const head = await call(r, "/dicomweb/sites/north/studies", {
    method: "HEAD",
    origin: ALLOWED,
    token: r.token,
  });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("access-control-allow-origin"), ALLOWED);
  // The federated root, and a path with a trailing slash, each header once.
  for (const p of ["/dicomweb/studies", "/dicomweb/sites/north/studies/"]) {
    const res = await call(r, p, { origin: ALLOWED, token: r.token });
    assert.equal(res.status, 200, p);
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED);
    assert.equal(varies(res.headers).filter((v) => v === "origin").length, 1, res.headers.get("vary")!);
  }
});

shared.test("errors to an allowed origin carry the CORS headers, so that its page can read the problem", async (r) => {
  const southOnly = (await r.hub.tokens.create("south only", "viewer", ["south"])).token;
  const cases: [string, Parameters<typeof call>[2], number][] = [
    ["/dicomweb/sites/north/studies", {}, 401],
    ["/dicomweb/sites/north/studies", { token: "ctk.000000000000.nope" }, 401],
    ["/dicomweb/sites/north/studies", { token: southOnly }, 403],
    ["/dicomweb/sites/north/studies", { token: r.token, method: "POST" }, 403],
    ["/dicomweb/sites/nowhere/studies", { token: r.token }, 404],
    ["/dicomweb/no/such/resource", { token: r.token }, 404],
    ["/dicomweb", { token: r.token }, 404],
    ["/dicomweb/sites/north/studies/not-a-uid/metadata", { token: r.token }, 400],
    [`/dicomweb/sites/north/studies/${CT_STUDY}/metadata`, {
      token: r.token,
      headers: { accept: "image/png" },
    }, 406],
    ["/dicomweb/sites/north/studies", { token: r.token, method: "DELETE" }, 405],
  ];
  for (const [p, init, status] of cases) {
    const res = await call(r, p, { ...init, origin: ALLOWED });
    const what = `${init?.method ?? "GET"} ${p}`;
    assert.equal(res.status, status, `${what}: ${res.body}`);
    assert.equal(res.headers.get("access-control-allow-origin"), ALLOWED, what);
    assert.ok(res.headers.get("access-control-expose-headers"), what);
    assert.equal(res.headers.get("access-control-allow-credentials"), null, what);
    assert.equal(res.headers.get("content-type"), "application/problem+json", what);
  }
});

shared.test("another origin, or none, gets its answer without CORS headers (a browser withholds it)", async (r) => {
  for (const origin of [OTHER, undefined]) {
    const res = await call(r, "/dicomweb/sites/north/studies", { origin, token: r.token });
    assert.equal(res.status, 200);
    assert.deepEqual(corsHeaders(res.headers), [], String(origin));
    // A cache must not give an allowed origin's answer to another, nor the other's to it.
    assert.ok(varies(res.headers).includes("origin"));
    const refused = await call(r, "/dicomweb/sites/north/studies", { origin });
    assert.equal(refused.status, 401);
    assert.deepEqual(corsHeaders(refused.headers), []);
  }
});

shared.test("a console session from an allowed origin is never given Access-Control-Allow-Credentials", async (r) => {
  await r.hub.users.add("cors-admin", "admin", "a long enough password 1");
  const login = await r.hub.users.login("cors-admin", "a long enough password 1", "127.0.0.1");
  const res = await call(r, "/dicomweb/sites/north/studies", {
    origin: ALLOWED,
    headers: { cookie: `${SESSION_COOKIE}=${login.id}` },
  });
  // The hub answers the session (its own pages send Origin on a POST), but the browser of the other
  // origin withholds a credentialed answer without Access-Control-Allow-Credentials.
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("access-control-allow-credentials"), null);
  const pre = await preflight(
    r,
    "/dicomweb/sites/north/studies",
    ALLOWED,
    "POST",
    "content-type,x-csrf-token",
  );
  assert.equal(pre.headers.get("access-control-allow-credentials"), null);
  assert.ok(!pre.headers.get("access-control-allow-headers")!.toLowerCase().includes("x-csrf-token"));
});

shared.test("/trpc, /auth, /metrics, /healthz, the viewer and the console send no CORS headers", async (r) => {
  for (
    const p of [
      "/trpc/sites.list",
      "/auth/me",
      "/metrics",
      "/healthz",
      "/viewer/app-config.js",
      "/",
      "/explorer",
    ]
  ) {
    const get = await call(r, p, { origin: ALLOWED, token: r.token });
    assert.deepEqual(corsHeaders(get.headers), [], `GET ${p}`);
    assert.ok(!varies(get.headers).includes("origin"), `GET ${p}`);
    const pre = await preflight(r, p, ALLOWED, "POST", "authorization,content-type");
    assert.deepEqual(corsHeaders(pre.headers), [], `OPTIONS ${p}`);
  }
  const login = await call(r, "/auth/login", {
    method: "POST",
    origin: ALLOWED,
    headers: { "content-type": "application/json" },
  });
  assert.deepEqual(corsHeaders(login.headers), []);
});

shared.test("a hub without dicomweb.cors sends no CORS headers and answers a preflight as before", async () => {
  const hub = await startTestHub();
  try {
    const token = (await hub.tokens.create("plain", "viewer")).token;
    const base = `http://127.0.0.1:${hub.port}/dicomweb`;
    const pre = await fetch(`${base}/studies`, {
      method: "OPTIONS",
      headers: { origin: ALLOWED, "access-control-request-method": "GET" },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 401);
    assert.deepEqual(corsHeaders(pre.headers), []);
    const res = await fetch(`${base}/studies`, {
      headers: { origin: ALLOWED, authorization: `Bearer ${token}` },
    });
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.deepEqual(corsHeaders(res.headers), []);
    assert.equal(res.headers.get("vary"), null);
  } finally {
    await hub.stop();
  }
});

shared.tearDown("cors_test: stop the rig");
