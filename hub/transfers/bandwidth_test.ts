import assert from "node:assert/strict";
import { RateLimiter } from "./bandwidth.ts";

Deno.test("RateLimiter lets bytes pass at the rate asked, callers in turn, after a quarter second's burst", async () => {
  const limiter = new RateLimiter(16); // 2 MB/s, burst 0.5 MB
  const started = performance.now();
  const piece = 64 * 1024;
  // Two callers sharing the limiter, 1.5 MB each: 3 MB in all, 2.5 MB past the burst, so about 1.25 s.
  await Promise.all([0, 1].map(async () => {
    for (let sent = 0; sent < 1_500_000; sent += piece) await limiter.take(piece);
  }));
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds >= 1.1 && seconds < 2, `${seconds.toFixed(2)} s`);
  assert.equal(limiter.megabitsPerSecond, 16);
});

Deno.test("RateLimiter.take() gives up when its signal aborts", async () => {
  const limiter = new RateLimiter(0.1); // 12.5 kB/s
  await limiter.take(64 * 1024); // the burst
  const abort = new AbortController();
  const waiting = limiter.take(1_000_000, abort.signal);
  abort.abort(new Error("gone"));
  await assert.rejects(waiting, /gone/);
});
