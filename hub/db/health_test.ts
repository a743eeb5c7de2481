import assert from "node:assert/strict";
import net from "node:net";
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

Deno.test("db probe: an answer that came while the hub's event loop was held past the limit counts", async () => {
  // The database: a peer on its own thread (a worker) answering a byte with a byte over loopback TCP, read
  // through node:net as the PostgreSQL driver reads. The hub's loop is held past the probe's time limit after
  // the question is sent; the answer is in the socket meanwhile, and after the stall the timers run first.
  const code = `
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    postMessage(listener.addr.port);
    for await (const conn of listener) {
      const buf = new Uint8Array(1);
      while (await conn.read(buf) === 1) await conn.write(buf);
    }`;
  const worker = new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), {
    type: "module",
  });
  const port = await new Promise<number>((resolve) => worker.onmessage = (e) => resolve(e.data));
  const socket = net.connect(port, "127.0.0.1");
  try {
    await new Promise((resolve) => socket.once("connect", resolve));
    let hold = false;
    const ask = () => {
      const answer = new Promise((resolve) => socket.once("data", resolve));
      socket.write(new Uint8Array([1]));
      if (hold) {
        const until = performance.now() + 1500;
        while (performance.now() < until) { /* held: a long synchronous call */ }
      }
      return answer.then(() => {});
    };
    const changes: DbHealth[] = [];
    const probe = new DbProbe(ask, { cacheMs: 0, timeoutMs: 400, onChange: (h) => changes.push(h) });
    assert.deepEqual(await probe.health(), { ok: true });
    hold = true;
    assert.deepEqual(await probe.health(), { ok: true });
    assert.deepEqual(changes, [], "no change reported");
  } finally {
    socket.destroy();
    worker.terminate();
  }
});
