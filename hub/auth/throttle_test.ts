import assert from "node:assert/strict";
import { LoginThrottle } from "./throttle.ts";

const policy = { perPair: 3, perAddress: 5, windowMs: 1000, lockMs: 5000 };

Deno.test("LoginThrottle locks a name only from the address that kept failing", () => {
  const t = new LoginThrottle(policy);
  assert.equal(t.fail("alice", "10.0.0.1", 0), undefined);
  assert.equal(t.fail("alice", "10.0.0.1", 100), undefined);
  assert.equal(t.fail("alice", "10.0.0.1", 200), "pair");
  assert.equal(t.lockedUntil("alice", "10.0.0.1", 300), 5200);
  assert.equal(t.lockedUntil("alice", "10.0.0.2", 300), undefined, "alice may still log in from elsewhere");
  assert.equal(t.lockedUntil("bob", "10.0.0.1", 300), undefined, "bob may still log in from that address");
  assert.equal(t.lockedUntil("alice", "10.0.0.1", 5200), undefined, "the lock ends");
});

Deno.test("LoginThrottle locks an address that fails across many names, and only that address", () => {
  const t = new LoginThrottle(policy);
  const names = ["a", "b", "c", "d", "e"];
  const got = names.map((n, i) => t.fail(n, "10.0.0.9", i * 10));
  assert.deepEqual(got, [undefined, undefined, undefined, undefined, "address"]);
  assert.ok(t.lockedUntil("zed", "10.0.0.9", 100), "every name from that address");
  assert.equal(t.lockedUntil("zed", "10.0.0.8", 100), undefined);
});

Deno.test("LoginThrottle forgets failures older than the window, and a success clears its pair", () => {
  const t = new LoginThrottle(policy);
  t.fail("alice", "a", 0);
  t.fail("alice", "a", 100);
  assert.equal(t.fail("alice", "a", 2000), undefined, "the first two were outside the window");
  t.fail("alice", "a", 2100);
  t.succeed("alice", "a");
  assert.equal(t.fail("alice", "a", 2200), undefined);
  assert.equal(t.lockedUntil("alice", "a", 2300), undefined);
});

Deno.test("LoginThrottle.begin() counts attempts under way: no more begin than failures are left", () => {
  const t = new LoginThrottle(policy);
  assert.equal(t.begin("alice", "a", 0), undefined);
  assert.equal(t.begin("alice", "a", 0), undefined);
  assert.equal(t.begin("alice", "a", 0), undefined);
  // Three under way, each of which may fail: a fourth waits (a second), from that address only.
  assert.equal(t.begin("alice", "a", 0), 1000);
  assert.equal(t.begin("alice", "b", 0), undefined);
  t.end("alice", "a");
  t.fail("alice", "a", 10);
  assert.equal(t.begin("alice", "a", 20), 1020, "one failed, two still under way");
  t.end("alice", "a");
  t.succeed("alice", "a");
  assert.equal(t.begin("alice", "a", 30), undefined, "a success clears the pair's failures");
  // The address's own limit counts attempts over every name.
  const u = new LoginThrottle(policy);
  assert.deepEqual(
    ["a", "b", "c", "d", "e", "f"].map((n) => u.begin(n, "10.0.0.9", 0)),
    [undefined, undefined, undefined, undefined, undefined, 1000],
  );
});
