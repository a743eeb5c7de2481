/**
 * The role matrix: every tRPC procedure declares the least role that may call it, and the server
 * enforces it for each role (viewer, operator, admin), for no credential, and for a console session
 * without its CSRF token. Every DICOMweb route refuses a request without a credential.
 */
import assert from "node:assert/strict";
import { startTestHub } from "../support/hub.ts";
import { appRouter } from "../../hub/api/router.ts";
import type { Role } from "../../hub/auth/tokens.ts";

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

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

Deno.test({
  name: "every tRPC procedure is refused below its role and to nobody, and allowed from its role up",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const router = appRouter({} as never);
      const procedures = Object.entries(
        router._def.procedures as unknown as Record<
          string,
          { _def: { type: string; meta?: { role?: Role } } }
        >,
      );
      assert.ok(procedures.length >= 14, `${procedures.length} procedures`);
      const tokens = Object.fromEntries(
        await Promise.all(
          (["viewer", "operator", "admin"] as Role[]).map(async (
            r,
          ) => [r, (await hub.tokens.create(r, r)).token]),
        ),
      ) as Record<Role, string>;
      const base = `http://127.0.0.1:${hub.port}/trpc`;
      const call = async (path: string, type: string, headers: Record<string, string>) => {
        const res = type === "mutation"
          ? await fetch(`${base}/${path}`, {
            method: "POST",
            headers: { ...headers, "content-type": "application/json" },
            body: "{}",
          })
          : await fetch(`${base}/${path}?input=${encodeURIComponent("{}")}`, {
            headers: { ...headers, ...(type === "subscription" ? { accept: "text/event-stream" } : {}) },
            signal: AbortSignal.timeout(3000),
          });
        const text = type === "subscription" ? await firstEvents(res) : await res.text();
        return { status: res.status, text };
      };
      for (const [path, proc] of procedures) {
        const role = proc._def.meta?.role;
        assert.ok(role, `${path} declares no role`);
        const none = await call(path, proc._def.type, {});
        assert.ok(
          none.status === 401 || /UNAUTHORIZED/.test(none.text),
          `${path} without a credential: ${none.status} ${none.text.slice(0, 120)}`,
        );
        for (const r of ["viewer", "operator", "admin"] as Role[]) {
          const got = await call(path, proc._def.type, { authorization: `Bearer ${tokens[r]}` });
          const refused = got.status === 403 || /FORBIDDEN/.test(got.text);
          assert.equal(
            refused,
            RANK[r] < RANK[role],
            `${path} as ${r}: ${got.status} ${got.text.slice(0, 120)}`,
          );
        }
      }
      // A console session without its CSRF token may read but not change anything.
      await hub.users.add("admin1", "admin", "admin password 1");
      const login = await fetch(`http://127.0.0.1:${hub.port}/auth/login`, {
        method: "POST",
        body: JSON.stringify({ user: "admin1", password: "admin password 1" }),
      });
      const cookie = login.headers.get("set-cookie")!.split(";")[0];
      await login.body?.cancel();
      for (const [path] of procedures.filter(([, p]) => p._def.type === "mutation")) {
        const got = await call(path, "mutation", { cookie });
        assert.equal(got.status, 403, `${path} from a session without CSRF: ${got.status}`);
      }
    } finally {
      await hub.stop();
    }
  },
});

Deno.test({
  name: "every DICOMweb route refuses a request without a credential (401)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const hub = await startTestHub();
    try {
      const s = "1.2.3", se = "1.2.3.4", i = "1.2.3.4.5";
      const paths = [
        "studies",
        "series",
        "instances",
        `studies/${s}/series`,
        `studies/${s}/instances`,
        `studies/${s}/series/${se}/instances`,
        `studies/${s}`,
        `studies/${s}/series/${se}`,
        `studies/${s}/series/${se}/instances/${i}`,
        `studies/${s}/metadata`,
        `studies/${s}/series/${se}/metadata`,
        `studies/${s}/series/${se}/instances/${i}/metadata`,
        `studies/${s}/series/${se}/instances/${i}/bulkdata/7FE00010`,
        `studies/${s}/series/${se}/instances/${i}/frames/1`,
      ];
      for (const root of ["/dicomweb", "/dicomweb/sites/north", "/dicomweb/sites/north/nodes/pacs"]) {
        for (const p of paths) {
          const res = await fetch(`http://127.0.0.1:${hub.port}${root}/${p}`);
          assert.equal(res.status, 401, `${root}/${p}`);
          await res.body?.cancel();
        }
        for (const p of ["studies", `studies/${s}`]) {
          const res = await fetch(`http://127.0.0.1:${hub.port}${root}/${p}`, { method: "POST", body: "x" });
          assert.equal(res.status, 401, `POST ${root}/${p}`);
          await res.body?.cancel();
        }
      }
    } finally {
      await hub.stop();
    }
  },
});
