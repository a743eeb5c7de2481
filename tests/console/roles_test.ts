/**
 * The role matrix over every route: each tRPC procedure and each DICOMweb route (under each of its
 * roots), for each role, with an API token and with a console session (the console's actions are
 * these calls with its cookie), is allowed exactly when hub/auth/permissions.ts grants its action to
 * the role; refused without a credential (401) and, for a session, without its CSRF token on
 * anything that changes state (403). The tables must list every route the hub serves, and nothing
 * else: a new route without an entry fails here.
 */
import assert from "node:assert/strict";
import { startTestHub, type TestHub } from "../support/hub.ts";
import {
  ACTIONS,
  DICOMWEB_ROOTS,
  DICOMWEB_ROUTES,
  DICOMWEB_SITE_ROUTES,
  FILE_ROUTES,
  GRANTS,
  OPEN_ROUTES,
  PROCEDURES,
} from "../../hub/auth/permissions.ts";
import { appRouter } from "../../hub/api/router.ts";
import { type Role, ROLES } from "../../hub/auth/tokens.ts";

type Credential = { kind: "token" | "session"; role: Role; headers: Record<string, string>; csrf?: string };

/** The first events of an SSE answer (the error, if any, follows the `connected` event). */
async function firstEvents(res: Response): Promise<string> {
  const reader = res.body!.getReader();
  let text = "";
  const settled = () =>
    /event: serialized-error\ndata: [^\n]*\n/.test(text) ||
    /\ndata: \{/.test(text.replace(/^event: connected\ndata: [^\n]*\n/, ""));
  try {
    for (let i = 0; i < 6 && !settled(); i++) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
  } catch { /* timed out */ }
  await reader.cancel().catch(() => {});
  return text;
}

/** A concrete path for a route pattern. */
function concrete(pattern: string): string {
  return pattern.replace(":site", "north").replace(":node", "pacs").replace(":study", "1.2.3")
    .replace(":series", "1.2.3.4").replace(":instance", "1.2.3.4.5").replace(":path{.+}", "7FE00010")
    .replace(":list", "1");
}

async function credentials(hub: TestHub): Promise<Credential[]> {
  const out: Credential[] = [];
  for (const role of ROLES) {
    const token = (await hub.tokens.create(`matrix ${role}`, role)).token;
    out.push({ kind: "token", role, headers: { authorization: `Bearer ${token}` } });
    await hub.users.add(`matrix-${role}`, role, `${role} password 1`);
    const login = await fetch(`http://127.0.0.1:${hub.port}/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ user: `matrix-${role}`, password: `${role} password 1` }),
    });
    assert.equal(login.status, 200);
    const me = await login.json();
    assert.deepEqual(me.actions, GRANTS[role], `the console is told what a ${role} may do`);
    const cookie = login.headers.get("set-cookie")!.split(";")[0];
    out.push({ kind: "session", role, headers: { cookie }, csrf: me.csrf });
  }
  return out;
}

const refusedRole = (status: number, text: string) => status === 403 || /"FORBIDDEN"/.test(text);
const refusedAuth = (status: number, text: string) => status === 401 || /"UNAUTHORIZED"/.test(text);

Deno.test({
  name: "the role matrix lists every route the hub serves, and only those",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const procedures = Object.keys(appRouter({} as never)._def.procedures).sort();
      assert.deepEqual(procedures, Object.keys(PROCEDURES).sort(), "tRPC procedures vs PROCEDURES");
      for (const action of Object.values(PROCEDURES)) assert.ok(ACTIONS.includes(action));
      const dicomweb = new Set<string>();
      const other = new Set<string>();
      for (const r of hub.app.routes) {
        if (r.method === "ALL") continue; // middleware and the 404 catch-alls
        const key = `${r.method} ${r.path}`;
        if (r.path.startsWith("/dicomweb/")) dicomweb.add(key);
        else if (r.path !== "/*") other.add(key); // "/*": the console's files
      }
      const expected = new Set<string>();
      for (const key of Object.keys(DICOMWEB_ROUTES)) {
        const [method, path] = key.split(" ");
        for (const root of DICOMWEB_ROOTS) expected.add(`${method} /dicomweb${root}${path}`);
      }
      for (const key of Object.keys(DICOMWEB_SITE_ROUTES)) {
        const [method, path] = key.split(" ");
        expected.add(`${method} /dicomweb/sites/:site${path}`);
      }
      assert.deepEqual([...dicomweb].sort(), [...expected].sort(), "DICOMweb routes vs DICOMWEB_ROUTES");
      assert.deepEqual(
        [...other].sort(),
        [...OPEN_ROUTES, ...Object.keys(FILE_ROUTES)].sort(),
        "other routes vs OPEN_ROUTES and FILE_ROUTES",
      );
    } finally {
      await hub.stop();
    }
  },
});

Deno.test("the matrix says: viewer reads; operator also stores and transfers; admin also manages and erases", () => {
  // account (the caller's own password) is every role's.
  assert.deepEqual(GRANTS.viewer, ["read", "account"]);
  assert.deepEqual(GRANTS.operator, ["read", "store", "transfer", "account"]);
  assert.deepEqual(GRANTS.admin, ["read", "store", "transfer", "manage", "erase", "account"]);
  const types = appRouter({} as never)._def.procedures as unknown as Record<
    string,
    { _def: { type: string } }
  >;
  for (const [path, action] of Object.entries(PROCEDURES)) {
    // Whatever changes state is more than reading.
    if (types[path]._def.type === "mutation") assert.notEqual(action, "read", `${path} is a mutation`);
    const manages = /^(users|tokens|audit)\./.test(path) || path === "site.add" || path === "site.revoke" ||
      path === "site.rotate" || path === "site.setUplink" || path === "site.setDownlink";
    assert.equal(action === "manage", manages, `${path}: ${action}`);
  }
  for (const [key, action] of Object.entries(DICOMWEB_ROUTES)) {
    assert.equal(action, key.startsWith("POST ") ? "store" : "read", key);
  }
  for (const [key, action] of Object.entries(DICOMWEB_SITE_ROUTES)) {
    assert.ok(key.startsWith("DELETE "), key);
    assert.equal(action, "erase", key);
  }
});

Deno.test("docs/api.md lists every procedure with the least role the matrix allows it to", async () => {
  const text = await Deno.readTextFile(new URL("../../docs/api.md", import.meta.url));
  const documented = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^\|\s*((?:`[a-zA-Z.]+`(?:\s*\/\s*)?)+)\s*\|\s*(viewer|operator|admin)\s*\|/.exec(line);
    if (!m) continue;
    for (const p of m[1].matchAll(/`([a-zA-Z.]+)`/g)) documented.set(p[1], m[2]);
  }
  assert.deepEqual([...documented.keys()].sort(), Object.keys(PROCEDURES).sort());
  for (const [path, action] of Object.entries(PROCEDURES)) {
    const least = ROLES.toReversed().find((r) => GRANTS[r].includes(action));
    assert.equal(documented.get(path), least, `${path} in docs/api.md`);
  }
});

Deno.test({
  name: "every tRPC procedure is allowed exactly to the roles the matrix grants, with a token or a session",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const router = appRouter({} as never);
      const types = router._def.procedures as unknown as Record<string, { _def: { type: string } }>;
      const base = `http://127.0.0.1:${hub.port}/trpc`;
      const call = async (path: string, headers: Record<string, string>) => {
        const type = types[path]._def.type;
        const res = type === "mutation"
          ? await fetch(`${base}/${path}`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body: "{}",
          })
          : await fetch(`${base}/${path}?input=${encodeURIComponent("{}")}`, {
            headers: { ...headers, ...(type === "subscription" ? { accept: "text/event-stream" } : {}) },
            signal: AbortSignal.timeout(5000),
          });
        const text = type === "subscription" ? await firstEvents(res) : await res.text();
        return { status: res.status, text, type };
      };
      const creds = await credentials(hub);
      let checked = 0;
      for (const [path, action] of Object.entries(PROCEDURES)) {
        const none = await call(path, {});
        assert.ok(refusedAuth(none.status, none.text), `${path} without a credential: ${none.status}`);
        for (const cred of creds) {
          const headers = { ...cred.headers, ...(cred.csrf ? { "x-csrf-token": cred.csrf } : {}) };
          const got = await call(path, headers);
          const allowed = GRANTS[cred.role].includes(action);
          assert.equal(
            refusedRole(got.status, got.text),
            !allowed,
            `${path} (${action}) as ${cred.role} ${cred.kind}: ${got.status} ${got.text.slice(0, 160)}`,
          );
          assert.ok(!refusedAuth(got.status, got.text), `${path} as ${cred.role} ${cred.kind}`);
          checked++;
          if (cred.kind === "session" && got.type === "mutation") {
            const noCsrf = await call(path, cred.headers);
            assert.equal(noCsrf.status, 403, `${path} from a session without CSRF: ${noCsrf.status}`);
          }
        }
      }
      assert.equal(checked, Object.keys(PROCEDURES).length * ROLES.length * 2);
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "every DICOMweb route, under every root, is allowed exactly to the roles the matrix grants",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const creds = await credentials(hub);
      const call = async (method: string, path: string, headers: Record<string, string>) => {
        const res = await fetch(`http://127.0.0.1:${hub.port}${path}`, {
          method,
          headers: {
            ...headers,
            ...(method === "POST"
              ? { "content-type": 'multipart/related; type="application/dicom"; boundary=b' }
              : {}),
          },
          ...(method === "POST" ? { body: "--b\r\n\r\nx\r\n--b--\r\n" } : {}),
        });
        const text = await res.text();
        return { status: res.status, text };
      };
      let checked = 0;
      const routes = [
        ...Object.entries(DICOMWEB_ROUTES).flatMap(([key, action]) =>
          DICOMWEB_ROOTS.map((root) => ({ key, action, root }))
        ),
        ...Object.entries(DICOMWEB_SITE_ROUTES).map(([key, action]) => ({
          key,
          action,
          root: "/sites/:site",
        })),
      ];
      for (const { key, action, root } of routes) {
        const [method, pattern] = key.split(" ");
        const path = `/dicomweb${concrete(root + pattern)}`;
        const none = await call(method, path, {});
        assert.equal(none.status, 401, `${method} ${path} without a credential`);
        for (const cred of creds) {
          const headers = { ...cred.headers, ...(cred.csrf ? { "x-csrf-token": cred.csrf } : {}) };
          const got = await call(method, path, headers);
          const allowed = GRANTS[cred.role].includes(action);
          assert.equal(
            got.status === 403,
            !allowed,
            `${method} ${path} (${action}) as ${cred.role} ${cred.kind}: ${got.status} ${
              got.text.slice(0, 160)
            }`,
          );
          assert.notEqual(got.status, 401, `${method} ${path} as ${cred.role} ${cred.kind}`);
          assert.notEqual(got.status, 500, `${method} ${path}: ${got.text.slice(0, 200)}`);
          checked++;
          if (cred.kind === "session" && method !== "GET") {
            const noCsrf = await call(method, path, cred.headers);
            assert.equal(noCsrf.status, 403, `${method} ${path} from a session without CSRF`);
          }
        }
      }
      assert.equal(checked, routes.length * ROLES.length * 2);
    } finally {
      await hub.stop();
    }
  },
});
