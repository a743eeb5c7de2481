import assert from "node:assert/strict";
import { Hono } from "hono";
import { databaseGuard } from "./guard.ts";
import { DbProbe, DbProbeError } from "./health.ts";

/** An app whose `/wait` answers when `release` is called, `/now` at once, behind the guard. */
function app(probeOk: () => boolean) {
  const release = Promise.withResolvers<void>();
  const probe = new DbProbe(() => probeOk() ? Promise.resolve() : Promise.reject(new DbProbeError("gone")));
  const refused: string[] = [];
  const a = new Hono();
  a.use("*", databaseGuard(probe, { afterMs: 50, onRefused: (path) => refused.push(path) }));
  a.get("/wait", async (c) => (await release.promise, c.text("late")));
  a.get("/now", (c) => c.text("now"));
  return { a, release: () => release.resolve(), refused };
}

Deno.test("databaseGuard() answers 503 a request still waiting once the database's probe fails", async () => {
  const { a, release, refused } = app(() => false);
  const r = await a.request("/wait");
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("retry-after"), "5");
  assert.match((await r.json()).detail, /the hub cannot reach its database/);
  assert.deepEqual(refused, ["/wait"]);
  release(); // the handler left behind ends; nothing is thrown
  await new Promise((res) => setTimeout(res, 10));
});

Deno.test("databaseGuard() leaves alone a request that answers, and one that waits on a healthy database", async () => {
  const { a, release, refused } = app(() => true);
  assert.equal(await (await a.request("/now")).text(), "now");
  const waiting = a.request("/wait");
  await new Promise((res) => setTimeout(res, 200)); // past afterMs: the probe says ok, the request waits on
  release();
  const r = await waiting;
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "late");
  assert.deepEqual(refused, []);
});
