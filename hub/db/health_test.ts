import assert from "node:assert/strict";
import { type DbHealth, DbProbe, DbProbeError } from "./health.ts";

Deno.test("db probe: answers are reused for cacheMs, and requests meanwhile share one probe", async () => {
  let calls = 0;
  const gate = Promise.withResolvers<void>();
  const probe = new DbProbe(async () => {
    calls++;
    await gate.promise;
  }, { cacheMs: 60_000 });
  const asked = Array.from({ length: 20 }, () => probe.health());
  gate.resolve();
  for (const h of await Promise.all(asked)) assert.deepEqual(h, { ok: true });
  for (let i = 0; i < 50; i++) assert.deepEqual(await probe.health(), { ok: true });
  assert.equal(calls, 1, "one read and write for 70 requests");
});

Deno.test("db probe: a database that does not answer is reported within timeoutMs, and not asked twice", async () => {
  let calls = 0;
  const hung = Promise.withResolvers<void>();
  const probe = new DbProbe(() => (calls++, hung.promise), { cacheMs: 0, timeoutMs: 50 });
  const first = await probe.health();
  assert.deepEqual(first, { ok: false, problem: "the database did not answer within 0.05 s" });
  // The first call has not ended: the next answer says so at once, without a second call piling up.
  assert.equal((await probe.health()).ok, false);
  assert.equal(calls, 1);
  hung.resolve();
  await hung.promise;
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(await probe.health(), { ok: true });
  assert.equal(calls, 2);
});

Deno.test("db probe: failures say what failed, and each change is reported once", async () => {
  let fail: Error | undefined = new DbProbeError("the database file is gone");
  const changes: [DbHealth, unknown][] = [];
  const probe = new DbProbe(() => fail ? Promise.reject(fail) : Promise.resolve(), {
    cacheMs: 0,
    onChange: (h, err) => changes.push([h, err]),
  });
  assert.deepEqual(await probe.health(), { ok: false, problem: "the database file is gone" });
  assert.deepEqual(await probe.health(), { ok: false, problem: "the database file is gone" });
  // Any other error is not quoted (it may name a path, a URL or a query): the log gets it.
  fail = new Error("SQLITE_IOERR: disk I/O error at /var/lib/conduit/hub.db");
  assert.deepEqual(await probe.health(), { ok: false, problem: "the database failed a read and write" });
  fail = undefined;
  assert.deepEqual(await probe.health(), { ok: true });
  assert.deepEqual(await probe.health(), { ok: true });
  assert.equal(changes.length, 2, "failing, then answering again");
  assert.equal(changes[0][0].ok, false);
  assert.ok(changes[0][1] instanceof DbProbeError);
  assert.deepEqual(changes[1][0], { ok: true });
});
