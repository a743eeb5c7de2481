import assert from "node:assert/strict";
import { backoffMs, classify } from "./policy.ts";

Deno.test("classify() retries resources and association failures, not data or SOP class problems", () => {
  assert.equal(classify(null), "retry");
  assert.equal(classify(0xa700), "retry");
  assert.equal(classify(0xa702), "retry");
  assert.equal(classify(0x0110), "retry");
  assert.equal(classify(0xa900), "permanent");
  assert.equal(classify(0xa9ff), "permanent");
  assert.equal(classify(0xc000), "permanent");
  assert.equal(classify(0xc123), "permanent");
  assert.equal(classify(0x0122), "permanent");
  assert.equal(classify(0x0111), "permanent", "a duplicate SOP Instance the receiver keeps other bytes of");
});

Deno.test("backoffMs() grows exponentially, never passes the cap, and uses the whole range", () => {
  assert.equal(backoffMs(1, 1000, 60_000, () => 0.999), 999);
  assert.equal(backoffMs(3, 1000, 60_000, () => 0.999), 3996);
  assert.equal(backoffMs(30, 1000, 60_000, () => 0.999), 59_940);
  assert.equal(backoffMs(5, 1000, 60_000, () => 0), 0);
  const samples = Array.from({ length: 2000 }, () => backoffMs(4, 1000, 60_000));
  assert.ok(samples.every((s) => s >= 0 && s < 8000));
  assert.ok(
    Math.max(...samples) > 7000 && Math.min(...samples) < 1000,
    "full jitter spreads over [0, ceiling)",
  );
});
