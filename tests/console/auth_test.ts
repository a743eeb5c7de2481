/**
 * Console users and sessions: Argon2id passwords, an httpOnly SameSite cookie, CSRF on every call
 * that changes something, login throttling, logout; the same session reaches tRPC and DICOMweb with
 * its role.
 */
import assert from "node:assert/strict";
import { startTestHub } from "../support/hub.ts";

Deno.test({
  name:
    "a console session logs in, calls tRPC and DICOMweb with its role, needs CSRF to change things, logs out",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      await hub.users.add("alice", "operator", "correct horse battery");
      await hub.users.add("victor", "viewer", "viewer password 1");
      const base = `http://127.0.0.1:${hub.port}`;
      const login = (user: string, password: string) =>
        fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user, password }),
        });

      const wrong = await login("alice", "nope");
      assert.equal(wrong.status, 401);
      assert.equal((await wrong.json()).detail, "wrong user name or password");

      const ok = await login("alice", "correct horse battery");
      assert.equal(ok.status, 200);
      const cookie = ok.headers.get("set-cookie")!;
      assert.match(cookie, /conduit_session=[^;]+;.*HttpOnly/i);
      assert.match(cookie, /SameSite=Strict/i);
      const { csrf, role } = await ok.json();
      assert.equal(role, "operator");
      const session = cookie.split(";")[0];

      const me = await (await fetch(`${base}/auth/me`, { headers: { cookie: session } })).json();
      assert.equal(me.user, "alice");
      // The commands the console's hints name, as this hub runs (from the repository here; the bundle test
      // checks a built hub's).
      // and the tunnel URL an agent takes: a placeholder, as this hub has no publicUrl.
      assert.deepEqual(me.commands, {
        agent: "deno task agent",
        hub: "deno task hub",
        tunnel: "wss://HUB/tunnel",
      });
      // tRPC query (GET) with the cookie.
      const sites = await fetch(`${base}/trpc/sites.list`, { headers: { cookie: session } });
      assert.equal(sites.status, 200);
      await sites.body?.cancel();
      // A mutation without the CSRF header is refused; with it, it runs (and fails on its input).
      const body = JSON.stringify({ source: { site: "x" }, destination: { site: "y" }, studies: ["1.2"] });
      const noCsrf = await fetch(`${base}/trpc/transfers.create`, {
        method: "POST",
        headers: { cookie: session, "content-type": "application/json" },
        body,
      });
      assert.equal(noCsrf.status, 403);
      await noCsrf.body?.cancel();
      const withCsrf = await fetch(`${base}/trpc/transfers.create`, {
        method: "POST",
        headers: { cookie: session, "content-type": "application/json", "x-csrf-token": csrf },
        body,
      });
      assert.equal(withCsrf.status, 404);
      const refusal = await withCsrf.text();
      assert.match(refusal, /no site named x/);
      assert.doesNotMatch(refusal, /"stack"/, "no stack trace reaches a client");
      // DICOMweb with the cookie (a GET needs no CSRF).
      const qido = await fetch(`${base}/dicomweb/studies`, { headers: { cookie: session } });
      assert.equal(qido.status, 200);
      await qido.body?.cancel();

      // A viewer is refused a transfer.
      const v = await login("victor", "viewer password 1");
      const vSession = v.headers.get("set-cookie")!.split(";")[0];
      const vCsrf = (await v.json()).csrf;
      const refused = await fetch(`${base}/trpc/transfers.create`, {
        method: "POST",
        headers: { cookie: vSession, "content-type": "application/json", "x-csrf-token": vCsrf },
        body,
      });
      assert.equal(refused.status, 403);
      await refused.body?.cancel();

      // Logout ends the session.
      const out = await fetch(`${base}/auth/logout`, {
        method: "POST",
        headers: { cookie: session, "x-csrf-token": csrf },
      });
      assert.equal(out.status, 200);
      await out.body?.cancel();
      const after = await fetch(`${base}/auth/me`, { headers: { cookie: session } });
      assert.equal(after.status, 401);
      await after.body?.cancel();

      // The audit log has the user's creation, the logins, and no failed attempt as a login.
      const admin = (await hub.tokens.create("auditor", "admin")).token;

      // A token sent that is none (mistyped, revoked) is told so; none sent, told to send one (until 2026-12-07
      // both were told to send a token).
      const detail = async (headers: HeadersInit) =>
        (await (await fetch(`${base}/dicomweb/studies`, { headers })).json()).detail as string;
      assert.match(
        await detail({ authorization: `Bearer ${admin}x` }),
        /^the API token sent is not valid here/,
      );
      assert.match(await detail({}), /^send an API token as Authorization: Bearer/);
      const trpc =
        await (await fetch(`${base}/trpc/sites.list`, { headers: { authorization: "Bearer nope" } }))
          .json();
      assert.match(JSON.stringify(trpc), /the API token sent is not valid here/);
      const auditAnswer = await (await fetch(`${base}/trpc/audit.list`, {
        headers: { authorization: `Bearer ${admin}` },
      })).json();
      assert.ok(auditAnswer.result, JSON.stringify(auditAnswer).slice(0, 400));
      const entries = auditAnswer.result.data as { actor: string; action: string; target: string | null }[];
      assert.ok(entries.some((e) => e.action === "user.add" && e.target === "alice" && e.actor === "cli"));
      assert.equal(entries.filter((e) => e.action === "login" && e.actor === "user:alice").length, 1);
      assert.ok(entries.some((e) => e.action === "token.create" && e.actor === "cli"));
      // The logout is audited as the login is: the user, the address; and logged.
      const logouts = (entries as { actor: string; action: string; detail?: unknown }[])
        .filter((e) => e.action === "logout");
      assert.deepEqual(logouts.map((e) => [e.actor, e.detail]), [["user:alice", { address: "127.0.0.1" }]]);
      assert.ok(hub.lines.some((l) => /"msg":"logout".*"user":"alice".*"address":"127.0.0.1"/.test(l)));

      // Five failures lock the name from this address for a minute, even with the right password after.
      for (let i = 0; i < 5; i++) await (await login("victor", "bad")).body?.cancel();
      const locked = await login("victor", "viewer password 1");
      assert.equal(locked.status, 429);
      await locked.body?.cancel();
      // From another address the user still logs in (tests/console/hardening_test.ts covers it over HTTP).
      const elsewhere = await hub.users.login("victor", "viewer password 1", "192.0.2.7");
      assert.equal(elsewhere.user, "victor");
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "the login names the tunnel URL an agent takes, from the hub's publicUrl, for the enrollment dialog",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub({ publicUrl: "https://hub.example.org/conduit/" });
    try {
      await hub.users.add("alice", "admin", "correct horse battery");
      const ok = await fetch(`http://127.0.0.1:${hub.port}/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: "alice", password: "correct horse battery" }),
      });
      assert.equal(ok.status, 200);
      assert.equal((await ok.json()).commands.tunnel, "wss://hub.example.org/conduit/tunnel");
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "a login ends the session whose cookie it replaces; a wrong login leaves it",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      await hub.users.add("alice", "operator", "correct horse battery");
      const base = `http://127.0.0.1:${hub.port}`;
      const login = async (password: string, cookie?: string) => {
        const res = await fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json", ...(cookie ? { cookie } : {}) },
          body: JSON.stringify({ user: "alice", password }),
        });
        await res.body?.cancel();
        return { status: res.status, cookie: res.headers.get("set-cookie")?.split(";")[0] };
      };
      const me = async (cookie: string) => {
        const res = await fetch(`${base}/auth/me`, { headers: { cookie } });
        await res.body?.cancel();
        return res.status;
      };
      const first = (await login("correct horse battery")).cookie!;
      assert.equal(await me(first), 200);
      assert.equal((await login("not the password", first)).status, 401);
      assert.equal(await me(first), 200, "a failed login changes nothing");
      const second = await login("correct horse battery", first);
      assert.equal(second.status, 200);
      assert.notEqual(second.cookie, first, "a new session id");
      assert.equal(await me(first), 401, "the replaced session is over");
      assert.equal(await me(second.cookie!), 200);
      // The replaced session's end is audited as a logout, with why.
      const { recent } = await import("../../hub/auth/audit.ts");
      const logouts = (await recent(hub.db, 100)).filter((e) => e.action === "logout");
      assert.deepEqual(logouts.map((e) => [e.actor, e.detail]), [
        ["user:alice", { address: "127.0.0.1", reason: "replaced" }],
      ]);
    } finally {
      await hub.stop();
    }
  },
});
