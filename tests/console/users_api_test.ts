/**
 * What a central team's admin does with users and lists through the typed tRPC client, against a real
 * hub: a user's role changed (at once, on their live session) and their password reset (every session of
 * theirs ended, the old password refused), both audited and admin-only; the last enabled admin can be
 * neither demoted nor disabled; the admin CLI does the same; users, tokens, transfers, batches and the audit log
 * list the newest first, in a stable order across pages; revoking an unknown or revoked token leaves no
 * audit entry.
 */
import assert from "node:assert/strict";
import { TRPCClientError } from "@trpc/client";
import { hubAdmin, startTestHub } from "../support/hub.ts";
import { createConduitClient } from "../../hub/client/mod.ts";

const refused = (code: string, message?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof TRPCClientError, String(e));
  assert.equal(e.data?.code, code, e.message);
  if (message) assert.match(e.message, message);
  return true;
};

Deno.test({
  name:
    "users.add and site.add of a name taken are CONFLICT naming it, even two at once; nothing is added twice",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const admin = createConduitClient({
        url: `http://127.0.0.1:${hub.port}`,
        token: (await hub.tokens.create("a", "admin")).token,
      });
      await admin.users.add.mutate({ name: "olga", role: "operator", password: "olga password 1" });
      await assert.rejects(
        admin.users.add.mutate({ name: "olga", role: "viewer", password: "olga password 2" }),
        refused("CONFLICT", /user olga exists already/),
      );
      // Both pass the look-up before either inserts (the password hash takes a while): one wins.
      const both = await Promise.allSettled(
        [1, 2].map((i) =>
          admin.users.add.mutate({ name: "ivan", role: "viewer", password: `ivan password ${i}` })
        ),
      );
      assert.deepEqual(both.map((r) => r.status).toSorted(), ["fulfilled", "rejected"]);
      refused("CONFLICT", /user ivan exists already/)(
        (both.find((r) => r.status === "rejected") as PromiseRejectedResult).reason,
      );
      assert.equal((await admin.users.list.query()).filter((u) => u.name === "ivan").length, 1);

      // A site: pending, it may be added again (a fresh token); enrolled, it is CONFLICT.
      await admin.site.add.mutate({ site: "east" });
      await hub.registry.enroll((await admin.site.add.mutate({ site: "east" })).enrollmentToken);
      await assert.rejects(
        admin.site.add.mutate({ site: "east" }),
        refused("CONFLICT", /site east exists already and is enrolled; revoke it first/),
      );
      const sites = await Promise.allSettled([1, 2].map(() => admin.site.add.mutate({ site: "west" })));
      for (const r of sites) if (r.status === "rejected") refused("CONFLICT", /site west/)(r.reason);

      // The CLI says the same, exit 1.
      const cli = await hubAdmin(hub.dataDir, ["user", "add", "olga", "--role", "viewer", "--json"]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.match(String(cli.json?.error), /user olga exists already/);
    } finally {
      await hub.stop();
    }
  },
});

/** ISO instants, the newest first. */
const newestFirst = (xs: string[]) => xs.toSorted().reverse();

Deno.test({
  name: "users: role change and password reset are admin-only, audited, end sessions; the last admin stays",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      await hub.users.add("boss", "admin", "boss password 1");
      await hub.users.add("olga", "operator", "olga password 1");
      const admin = createConduitClient({ url: base, token: (await hub.tokens.create("a", "admin")).token });
      const operator = createConduitClient({
        url: base,
        token: (await hub.tokens.create("o", "operator")).token,
      });
      const login = async (user: string, password: string) => {
        const res = await fetch(`${base}/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ user, password }),
        });
        const body = await res.json();
        return { status: res.status, cookie: res.headers.get("set-cookie")?.split(";")[0] ?? "", ...body };
      };
      const me = async (cookie: string) => {
        const res = await fetch(`${base}/auth/me`, { headers: { cookie } });
        return res.ok ? await res.json() : res.status;
      };

      // Only an admin may change a role or a password.
      await assert.rejects(
        operator.users.setRole.mutate({ name: "olga", role: "admin" }),
        refused("FORBIDDEN"),
      );
      await assert.rejects(
        operator.users.resetPassword.mutate({ name: "olga", password: "a new password 1" }),
        refused("FORBIDDEN"),
      );

      // A role change holds at once on the user's live session.
      const olga = await login("olga", "olga password 1");
      assert.equal(olga.status, 200);
      assert.equal((await me(olga.cookie)).role, "operator");
      assert.deepEqual(await admin.users.setRole.mutate({ name: "olga", role: "viewer" }), {
        user: "olga",
        from: "operator",
        role: "viewer",
      });
      assert.equal((await me(olga.cookie)).role, "viewer");
      assert.equal((await admin.users.list.query()).find((u) => u.name === "olga")?.role, "viewer");
      await assert.rejects(
        admin.users.setRole.mutate({ name: "nobody", role: "viewer" }),
        refused("NOT_FOUND", /no user nobody/),
      );
      await assert.rejects(
        // deno-lint-ignore no-explicit-any
        admin.users.setRole.mutate({ name: "olga", role: "root" as any }),
        refused("BAD_REQUEST"),
      );

      // A password reset ends every session of the user; the old password no longer works.
      const second = await login("olga", "olga password 1");
      assert.equal(second.status, 200);
      assert.deepEqual(
        await admin.users.resetPassword.mutate({ name: "olga", password: "olga's new password" }),
        { user: "olga", sessionsEnded: 2 },
      );
      assert.equal(await me(olga.cookie), 401);
      assert.equal(await me(second.cookie), 401);
      assert.equal((await login("olga", "olga password 1")).status, 401);
      assert.equal((await login("olga", "olga's new password")).status, 200);
      await assert.rejects(
        admin.users.resetPassword.mutate({ name: "olga", password: "short" }),
        refused("BAD_REQUEST"),
      );
      await assert.rejects(
        admin.users.resetPassword.mutate({ name: "nobody", password: "long enough password" }),
        refused("NOT_FOUND", /no user nobody/),
      );

      // Audited, without the password.
      const audit = await admin.audit.list.query({ limit: 50 });
      const role = audit.find((a) => a.action === "user.role");
      assert.deepEqual(
        { actor: role?.actor, target: role?.target, detail: role?.detail },
        { actor: "token:a", target: "olga", detail: { from: "operator", to: "viewer" } },
      );
      const reset = audit.find((a) => a.action === "user.password");
      assert.deepEqual({ actor: reset?.actor, target: reset?.target }, { actor: "token:a", target: "olga" });
      assert.doesNotMatch(JSON.stringify(audit), /new password/);

      // The last enabled admin can be neither demoted nor disabled, by the API or by the CLI.
      await assert.rejects(
        admin.users.setRole.mutate({ name: "boss", role: "operator" }),
        refused("BAD_REQUEST", /boss is the last enabled admin/),
      );
      await assert.rejects(
        admin.users.setDisabled.mutate({ name: "boss", disabled: true }),
        refused("BAD_REQUEST", /boss is the last enabled admin/),
      );
      const cli = await hubAdmin(hub.dataDir, ["user", "role", "boss", "--role", "viewer", "--json"]);
      assert.equal(cli.code, 1, cli.stderr);
      assert.match(String(cli.json?.error), /last enabled admin/);
      assert.equal((await hubAdmin(hub.dataDir, ["user", "disable", "boss"])).code, 1);
      // With a second admin, the first may go; a disabled admin does not count as the one left.
      await admin.users.setRole.mutate({ name: "olga", role: "admin" });
      await admin.users.setDisabled.mutate({ name: "olga", disabled: true });
      await assert.rejects(
        admin.users.setRole.mutate({ name: "boss", role: "viewer" }),
        refused("BAD_REQUEST", /last enabled admin/),
      );
      await admin.users.setDisabled.mutate({ name: "olga", disabled: false });
      await admin.users.setRole.mutate({ name: "boss", role: "operator" });
      assert.equal((await admin.users.list.query()).find((u) => u.name === "boss")?.role, "operator");

      // The CLI: a role, a password (made and shown once when not given on stdin), disable and enable.
      const promoted = await hubAdmin(hub.dataDir, ["user", "role", "boss", "--role", "admin", "--json"]);
      assert.equal(promoted.code, 0, promoted.stderr);
      assert.deepEqual(promoted.json, { user: "boss", from: "operator", role: "admin" });
      const boss = await login("boss", "boss password 1");
      const password = await hubAdmin(hub.dataDir, ["user", "password", "boss", "--json"]);
      assert.equal(password.code, 0, password.stderr);
      assert.equal(password.json?.sessionsEnded, 1);
      assert.equal(await me(boss.cookie), 401);
      assert.equal((await login("boss", String(password.json?.password))).status, 200);
      assert.equal((await hubAdmin(hub.dataDir, ["user", "disable", "olga"])).code, 0);
      assert.equal((await admin.users.list.query()).find((u) => u.name === "olga")?.disabled, true);
      assert.equal((await hubAdmin(hub.dataDir, ["user", "disable", "olga"])).code, 0, "already: no change");
      assert.equal((await hubAdmin(hub.dataDir, ["user", "enable", "olga"])).code, 0);
      const cliAudit = (await admin.audit.list.query({ limit: 10 })).filter((a) => a.actor === "cli");
      assert.deepEqual(
        cliAudit.map((a) => a.action),
        ["user.enable", "user.disable", "user.password", "user.role"],
      );
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "lists: users, tokens, transfers, batches and the audit log newest first, stable across pages",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const base = `http://127.0.0.1:${hub.port}`;
      const admin = createConduitClient({ url: base, token: (await hub.tokens.create("t0", "admin")).token });
      // Several made within one millisecond: the order must still be the same on every call.
      for (let i = 1; i <= 6; i++) await hub.tokens.create(`t${i}`, "viewer");
      for (let i = 1; i <= 4; i++) await hub.users.add(`u${i}`, "viewer", "user password 1");
      const tokens = await admin.tokens.list.query();
      assert.deepEqual(tokens.map((t) => t.name).toSorted(), ["t0", "t1", "t2", "t3", "t4", "t5", "t6"]);
      assert.deepEqual(tokens.map((t) => t.createdAt), newestFirst(tokens.map((t) => t.createdAt)));
      assert.deepEqual(tokens, await admin.tokens.list.query(), "the same order on every call");
      const users = await admin.users.list.query();
      assert.deepEqual(users.map((u) => u.name), ["u4", "u3", "u2", "u1"]);

      await hub.registry.enroll((await hub.registry.add("north")).enrollmentToken);
      await hub.registry.enroll((await hub.registry.add("south")).enrollmentToken);
      const made: string[] = [];
      for (let i = 0; i < 7; i++) {
        const { id } = await hub.transfers.create(
          { source: { site: "north" }, destination: { site: "south" }, studies: [`1.2.3.${i}`] },
          "user:boss",
        );
        made.push(id);
      }
      const all = await admin.transfers.list.query({ limit: 100 });
      assert.deepEqual(all.map((t) => t.id).toSorted(), made.toSorted());
      assert.deepEqual(all.map((t) => t.createdAt), newestFirst(all.map((t) => t.createdAt)));
      const paged = [
        ...await admin.transfers.list.query({ limit: 3 }),
        ...await admin.transfers.list.query({ limit: 3, offset: 3 }),
        ...await admin.transfers.list.query({ limit: 3, offset: 6 }),
      ];
      assert.deepEqual(paged.map((t) => t.id), all.map((t) => t.id), "pages neither repeat nor skip a job");

      // Batches: newest first, paged without repeats; south's own batch is listed to a token of south.
      const batches: string[] = [];
      for (let i = 0; i < 5; i++) {
        const site = i === 2 ? "south" : "north";
        const b = await admin.batch.upload.mutate({
          kind: "query",
          filename: `rows-${i}.csv`,
          contentBase64: btoa(`PatientID\nP${i}\n`),
          sites: [site],
        });
        batches.push(b.id);
      }
      const listed = await admin.batch.list.query();
      assert.deepEqual(listed.map((b) => b.id).toSorted(), batches.toSorted());
      assert.deepEqual(listed.map((b) => b.createdAt), newestFirst(listed.map((b) => b.createdAt)));
      // By id: a batch's status moves on between the calls (its rows are searched as it runs).
      assert.deepEqual(
        [...await admin.batch.list.query({ limit: 2 }), ...await admin.batch.list.query({ offset: 2 })]
          .map((b) => b.id),
        listed.map((b) => b.id),
      );
      const southOnly = createConduitClient({
        url: base,
        token: (await hub.tokens.create("s", "viewer", ["south"])).token,
      });
      assert.deepEqual((await southOnly.batch.list.query()).map((b) => b.filename), ["rows-2.csv"]);

      // Revoking a token nobody has is refused and leaves no entry of a revocation that did not happen.
      await assert.rejects(
        admin.tokens.revoke.mutate({ id: "000000000000" }),
        refused("NOT_FOUND", /no token 000000000000/),
      );
      const revoked = (await admin.tokens.list.query()).find((t) => t.name === "t1")!;
      await admin.tokens.revoke.mutate({ id: revoked.id });
      await assert.rejects(
        admin.tokens.revoke.mutate({ id: revoked.id }),
        refused("BAD_REQUEST", /is revoked already/),
      );
      const audit = await admin.audit.list.query({ limit: 100 });
      assert.deepEqual(audit.filter((a) => a.action === "token.revoke").map((a) => a.target), [revoked.id]);
      assert.equal(audit[0].action, "token.revoke");
      assert.equal(audit.at(-1)?.action, "token.create");
      const auditPaged = [
        ...await admin.audit.list.query({ limit: 5 }),
        ...await admin.audit.list.query({ limit: 100, offset: 5 }),
      ];
      assert.deepEqual(auditPaged, audit);
    } finally {
      await hub.stop();
    }
  },
});
