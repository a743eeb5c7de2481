import assert from "node:assert/strict";
import { MAX_WAITS, SiteWaiters, WAIT_REMEMBERED_MS } from "./site_waiters.ts";

Deno.test("a site's waiters are returned once, each once", () => {
  const w = new SiteWaiters();
  w.wait("south", "north");
  w.wait("south", "east");
  w.wait("south", "north");
  w.wait("west", "north");
  assert.equal(w.size, 3);
  assert.deepEqual(w.waited().sort(), ["south", "west"]);
  assert.deepEqual(w.take("south").sort(), ["east", "north"]);
  assert.deepEqual(w.take("south"), []);
  assert.equal(w.size, 1);
  assert.deepEqual(w.waited(), ["west"]);
});

Deno.test("a wait older than a day is not returned; a new refusal renews it", () => {
  let now = 0;
  const w = new SiteWaiters(() => now);
  w.wait("south", "north");
  w.wait("south", "east");
  now = WAIT_REMEMBERED_MS / 2;
  w.wait("south", "east");
  now = WAIT_REMEMBERED_MS + 1;
  assert.deepEqual(w.take("south"), ["east"]);
});

Deno.test("beyond the cap the oldest waits are forgotten", () => {
  let now = 0;
  const w = new SiteWaiters(() => now);
  for (let i = 0; i < MAX_WAITS + 5; i++) {
    now = i;
    w.wait(`site-${i % 10}`, `waiter-${i}`);
  }
  assert.equal(w.size, MAX_WAITS);
  assert.ok(!w.take("site-0").includes("waiter-0"), "the oldest wait was forgotten");
  assert.ok(w.take("site-4").includes(`waiter-${MAX_WAITS + 4}`), "the newest was kept");
});
