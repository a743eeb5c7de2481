/**
 * `/tunnel` checks the credential before the upgrade: a peer without a valid one gets the refusal as a
 * 401 and no WebSocket (nothing it sends is read), and a hub that cannot check it says only that.
 */
import assert from "node:assert/strict";
import { Logger } from "@conduit/shared/log";
import { Reason } from "@conduit/shared/tunnel";
import type { SiteRegistry } from "../sites/registry.ts";
import type { Sessions } from "./sessions.ts";
import { tunnelRoutes } from "./endpoint.ts";

const lines: string[] = [];
const log = new Logger({ app: "test" }, "debug", { write: (l: string) => void lines.push(l) });
const sessions = {} as Sessions;
const upgrade = (credential?: string) => ({
  headers: { upgrade: "websocket", ...(credential ? { authorization: `Bearer ${credential}` } : {}) },
});

Deno.test("tunnel: no credential, or one the registry does not know, is 401 with the refusal", async () => {
  const registry = { authenticate: () => Promise.resolve(undefined) } as unknown as SiteRegistry;
  const app = tunnelRoutes(registry, sessions, log, "test");
  for (const credential of [undefined, "cts.north.nope"]) {
    const res = await app.request("/", upgrade(credential));
    assert.equal(res.status, 401);
    const body = await res.json();
    assert.deepEqual(
      [body.accepted, body.reason, body.message],
      [false, Reason.BadCredential, "the site credential is not valid"],
    );
  }
});

Deno.test("tunnel: a hub that cannot check the credential says so, and keeps why for its log", async () => {
  const failure = 'Failed query: select "credential_hash" from "sites" where "name" = $1';
  const registry = { authenticate: () => Promise.reject(new Error(failure)) } as unknown as SiteRegistry;
  lines.length = 0;
  const res = await tunnelRoutes(registry, sessions, log, "test").request("/", upgrade("cts.north.x"));
  assert.equal(res.status, 503);
  const text = await res.text();
  assert.doesNotMatch(text, /credential_hash|Failed query/);
  assert.equal(JSON.parse(text).reason, Reason.InternalError);
  assert.ok(lines.some((l) => l.includes("Failed query")), "the hub's log has the reason");
});
