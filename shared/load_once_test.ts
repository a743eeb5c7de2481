import assert from "node:assert/strict";
import { loadOnce } from "./load_once.ts";

Deno.test("loadOnce() shares one load between concurrent calls and keeps its value", async () => {
  let loads = 0;
  const get = loadOnce(() => Promise.resolve(++loads));
  assert.deepEqual(await Promise.all([get(), get(), get()]), [1, 1, 1]);
  assert.equal(await get(), 1);
  assert.equal(loads, 1);
});

Deno.test("loadOnce() gives a failure to the calls that shared it and loads again at the next call", async () => {
  let loads = 0;
  const get = loadOnce(() => {
    loads++;
    if (loads === 1) throw new Error("briefly unreadable"); // thrown before any promise, as a sync throw
    if (loads === 2) return Promise.reject(new Error("still unreadable"));
    return Promise.resolve("loaded");
  });
  const first = await Promise.allSettled([get(), get()]);
  assert.deepEqual(first.map((r) => r.status), ["rejected", "rejected"]);
  assert.equal(loads, 1, "the concurrent calls shared the failed load");
  await assert.rejects(get(), /still unreadable/);
  assert.equal(await get(), "loaded");
  assert.equal(await get(), "loaded");
  assert.equal(loads, 3);
});
