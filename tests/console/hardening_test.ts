/**
 * Console and HTTP hardening: no framing (CSP frame-ancestors and X-Frame-Options on every answer),
 * `/auth/login` only as JSON, the cookie's Secure flag from the hub's public URL, failed logins
 * audited with user, address and time and throttled per (user, address) so that one address cannot
 * lock an account for everyone, and `/metrics` only with a token or on its loopback port.
 */
import assert from "node:assert/strict";
import { freePort } from "../support/peers.ts";
import { hubAdmin, startHubProcess, startTestHub } from "../support/hub.ts";
import { unknownUserMarker } from "../../hub/auth/users.ts";
import { checkedAtMostFive, loginsAtOnce } from "../support/logins.ts";

const login = (base: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

Deno.test({
  name: "every answer forbids framing; the console's page carries its CSP; login takes only JSON",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      for (
        const path of [
          "/",
          "/explorer",
          "/healthz",
          "/auth/me",
          "/dicomweb/studies",
          "/trpc/sites.list",
          "/api",
        ]
      ) {
        const res = await fetch(`${base}${path}`);
        await res.body?.cancel();
        assert.equal(res.headers.get("x-frame-options"), "DENY", path);
        assert.equal(res.headers.get("strict-transport-security"), null, `${path}: plain http, no HSTS`);
        assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/, path);
        assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
      }
      const page = await fetch(`${base}/explorer`);
      await page.body?.cancel();
      assert.match(page.headers.get("content-security-policy")!, /default-src 'self'; script-src 'self'/);

      await hub.users.add("alice", "operator", "alice password 1");
      const creds = JSON.stringify({ user: "alice", password: "alice password 1" });
      for (
        const type of [
          undefined,
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
        ]
      ) {
        const res = await fetch(`${base}/auth/login`, {
          method: "POST",
          headers: type ? { "content-type": type } : {},
          body: type === undefined ? new Blob([creds]) : creds,
        });
        assert.equal(res.status, 415, `content type ${type}`);
        assert.equal(res.headers.get("content-type"), "application/problem+json");
        await res.body?.cancel();
      }
      const ok = await login(base, creds, { "content-type": "application/json; charset=utf-8" });
      assert.equal(ok.status, 200);
      assert.doesNotMatch(ok.headers.get("set-cookie")!, /Secure/i, "plain http, no https public URL");
      await ok.body?.cancel();
    } finally {
      await hub.stop();
    }
  },
});

/**
 * The login reads at most 16 KiB of body: a larger one (declared, or sent without a length) is 413 at
 * once. Until 2026-12-04 it read the whole body before looking at it: 400 MB sent by anyone took the
 * hub's memory from 120 MB to 930 MB, and a body that never ends held the request for good.
 */
Deno.test({
  name: "a login body over 16 KiB is refused with 413 before it is read to its end",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      const declared = await login(base, JSON.stringify({ user: "a", password: "x".repeat(20_000) }));
      assert.equal(declared.status, 413);
      assert.equal(declared.headers.get("content-type"), "application/problem+json");
      await declared.body?.cancel();
      // A body with no length that never ends.
      const chunk = new TextEncoder().encode(`{"user":"${"x".repeat(64 * 1024)}`);
      const endless = new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(chunk) });
      const res = await fetch(`${base}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: endless,
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 413);
      await res.body?.cancel();
      await hub.users.add("alice", "operator", "alice password 1");
      const ok = await login(base, { user: "alice", password: "alice password 1" });
      assert.equal(ok.status, 200, "a login of ordinary size still works");
      await ok.body?.cancel();
    } finally {
      await hub.stop();
    }
  },
});

/**
 * A tRPC call is checked against the role matrix before its body is read, and no body is read past
 * 64 MiB (a batch file of 50 MB in base64 is the largest input): until 2026-12-04 a viewer's token
 * could make the hub read and parse a body of any size (300 MB took it from 120 MB to 730 MB) before
 * being told it may not upload a batch, and a body that never ends held its call for good.
 */
Deno.test({
  name: "tRPC: the role is checked before the body is read, and no body is read past 64 MiB",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      const endless = () => {
        const chunk = new TextEncoder().encode("x".repeat(1 << 20));
        return new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(chunk) });
      };
      const post = async (token: string, body: BodyInit, length?: number) => {
        const sending = new AbortController();
        const timer = setTimeout(() => sending.abort(), 20_000);
        const res = await fetch(`${base}/trpc/batch.upload`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${token}`,
            ...(length ? { "content-length": String(length) } : {}),
          },
          body,
          signal: sending.signal,
        });
        const text = await res.text();
        sending.abort(); // the endless body stops being sent
        clearTimeout(timer);
        return { status: res.status, text };
      };
      const viewer = (await hub.tokens.create("v", "viewer")).token;
      const operator = (await hub.tokens.create("o", "operator")).token;
      assert.equal((await post(viewer, endless())).status, 403);
      const endlessCall = await post(operator, endless());
      assert.equal(endlessCall.status, 400);
      assert.match(endlessCall.text, /body is at most 64 MiB/);
      const declared = new Uint8Array(65 * 1024 * 1024);
      assert.equal((await post(operator, declared, declared.byteLength)).status, 413);
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name:
    "the session cookie is Secure and HSTS is sent when hub.publicUrl is https, even over plain http behind a TLS proxy",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ publicUrl: "https://hub.example.org" });
    try {
      await hub.users.add("alice", "operator", "alice password 1");
      const base = `http://127.0.0.1:${hub.port}`;
      const res = await login(base, { user: "alice", password: "alice password 1" });
      assert.equal(res.status, 200);
      const cookie = res.headers.get("set-cookie")!;
      assert.match(cookie, /;\s*Secure/i);
      assert.match(cookie, /HttpOnly/i);
      assert.match(cookie, /SameSite=Strict/i);
      // HSTS on every answer of a hub reached over https (the proxy passes it on), the login's too.
      assert.equal(res.headers.get("strict-transport-security"), "max-age=31536000");
      const health = await fetch(`${base}/healthz`);
      await health.body?.cancel();
      assert.equal(health.headers.get("strict-transport-security"), "max-age=31536000");
      const { csrf } = await res.json();
      const out = await fetch(`${base}/auth/logout`, {
        method: "POST",
        headers: { cookie: cookie.split(";")[0], "x-csrf-token": csrf },
      });
      assert.match(out.headers.get("set-cookie")!, /;\s*Secure/i, "the cookie is cleared the same way");
      await out.body?.cancel();
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "failed logins are audited and throttled per user and address: one address cannot lock a user out",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // Behind a proxy (trusted X-Forwarded-For), so that requests can come from several addresses.
    const hub = await startTestHub({ trustForwardedHeaders: true });
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("victor", "viewer", "viewer password 1");
      const from = (address: string) => ({ "x-forwarded-for": `198.51.100.99, ${address}` });
      const t0 = Date.now();
      for (let i = 0; i < 5; i++) {
        const res = await login(base, { user: "victor", password: `guess ${i}` }, from("203.0.113.5"));
        assert.equal(res.status, 401);
        await res.body?.cancel();
      }
      // The attacker's address is locked out of victor, even with the right password...
      const locked = await login(
        base,
        { user: "victor", password: "viewer password 1" },
        from("203.0.113.5"),
      );
      assert.equal(locked.status, 429);
      assert.ok(Number(locked.headers.get("retry-after")) > 0);
      assert.match((await locked.json()).detail, /too many failed logins for this user from this address/);
      // ...but victor logs in from his own address.
      const victor = await login(base, { user: "victor", password: "viewer password 1" }, from("192.0.2.10"));
      assert.equal(victor.status, 200);
      await victor.body?.cancel();

      // One address failing across many names locks only itself.
      for (let i = 0; i < 20; i++) {
        await (await login(base, { user: `name${i}`, password: "x" }, from("203.0.113.77"))).body?.cancel();
      }
      const sprayer = await login(
        base,
        { user: "victor", password: "viewer password 1" },
        from("203.0.113.77"),
      );
      assert.equal(sprayer.status, 429);
      await sprayer.body?.cancel();

      // The audit log has each failure with the name, the address and the time, and each lock.
      const entries = await (await import("../../hub/auth/audit.ts")).recent(hub.db, 1000);
      const failed = entries.filter((e) => e.action === "login.failed" && e.target === "victor");
      assert.equal(failed.length, 5);
      for (const e of failed) {
        assert.equal(e.actor, "anonymous");
        assert.deepEqual(e.detail, { address: "203.0.113.5" });
        assert.ok(Date.parse(e.at) >= t0 - 1000 && Date.parse(e.at) <= Date.now());
      }
      const locks = entries.filter((e) => e.action === "login.locked");
      assert.deepEqual(
        locks.map((e) => [e.target, (e.detail as { address: string; scope: string }).address]).sort(),
        [[unknownUserMarker("name19"), "203.0.113.77"], ["victor", "203.0.113.5"]],
      );
      assert.ok(entries.some((e) => e.action === "login" && e.actor === "user:victor"));
      assert.ok(
        hub.lines.some((l) => /"msg":"login failed".*"user":"victor".*"address":"203.0.113.5"/.test(l)),
      );
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "/metrics needs an API token not limited to sites, or is scraped without one on its loopback port",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const metricsPort = freePort();
    const hub = await startTestHub({ metricsPort });
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      const none = await fetch(`${base}/metrics`);
      assert.equal(none.status, 401);
      assert.doesNotMatch(await none.text(), /conduit_hub_/);
      const scoped = (await hub.tokens.create("scoped", "viewer", ["north"])).token;
      const refused = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${scoped}` } });
      assert.equal(refused.status, 403);
      await refused.body?.cancel();
      const token = (await hub.tokens.create("prometheus", "viewer")).token;
      const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /conduit_hub_sites_connected 0/);
      const local = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      assert.equal(local.status, 200);
      assert.match(await local.text(), /conduit_hub_sites_connected/);
      const other = await fetch(`http://127.0.0.1:${metricsPort}/dicomweb/studies`);
      assert.equal(other.status, 404, "the metrics port serves nothing else");
      await other.body?.cancel();
      assert.ok(hub.lines.some((l) => l.includes(`"metrics":"http://127.0.0.1:${metricsPort}/metrics"`)));
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "failed logins sent all at once are throttled as one after another: at most 5 passwords checked",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      await hub.users.add("carol", "operator", "carol password 1");
      checkedAtMostFive(await loginsAtOnce(hub, "carol"));
    } finally {
      await hub.stop();
    }
  },
});

/**
 * A password typed into the user-name field reached the hub's log file and the audit log as it was typed
 * ("login failed", login.failed, login.locked). Now a name nobody has is written as a marker with a short
 * keyed hash, the same for each attempt with that text (to correlate them), and a user's name as before.
 */
Deno.test({
  name:
    "a failed login with a name nobody has puts a marker, never the typed name, in the log file and audit",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startHubProcess();
    try {
      const added = await hubAdmin(hub.dataDir, ["user", "add", "victor", "--role", "viewer", "--json"]);
      assert.equal(added.code, 0, added.stderr);
      const base = `http://127.0.0.1:${hub.port}`;
      const secret = "Tr0ub4dor&3-hunter2";
      // Five with the secret as a name lock that pair, whose refusal is logged too; one with victor's name.
      for (let i = 0; i < 6; i++) {
        const res = await login(base, { user: secret, password: "whatever it was" });
        assert.equal(res.status, i < 5 ? 401 : 429);
        await res.body?.cancel();
      }
      await (await login(base, { user: "victor", password: "not his password" })).body?.cancel();
      const audit = await hubAdmin(hub.dataDir, ["audit", "--action", "login*", "--json"]);
      assert.equal(audit.code, 0, audit.stderr);
      assert.ok(!audit.stdout.includes(secret), "the typed name is not in the audit log");
      const entries = (audit.json as { entries: { action: string; target: string }[] }).entries;
      const targets = entries.map((e) => `${e.action} ${e.target}`).sort();
      const marker = targets[0].split(" ").slice(1).join(" ");
      assert.match(marker, /^unknown user #[0-9a-f]{8}$/);
      assert.deepEqual(targets, [
        ...Array(5).fill(`login.failed ${marker}`),
        "login.failed victor",
        `login.locked ${marker}`,
      ]);
      const log = await Deno.readTextFile(hub.logFile);
      assert.ok(!log.includes(secret), "the typed name is not in the log file");
      const lines = log.split("\n").filter((l) => /"msg":"login (failed|refused)"/.test(l));
      assert.equal(lines.filter((l) => l.includes(`"user":"${marker}"`)).length, 6, lines.join("\n"));
      assert.equal(lines.filter((l) => l.includes('"user":"victor"')).length, 1);
    } finally {
      await hub.stop();
    }
  },
});
