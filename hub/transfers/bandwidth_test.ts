import assert from "node:assert/strict";
import { chain, FairRateLimiter, RateLimiter } from "./bandwidth.ts";

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

Deno.test("FairRateLimiter serves its flows in turn, whatever the number of takers of each", async () => {
  const site = new FairRateLimiter(1000);
  const order: string[] = [];
  const a = site.flow("job-a"), b = site.flow("job-b");
  await Promise.all([
    ...[1, 2, 3, 4, 5, 6].map((i) => a.take(1000).then(() => order.push(`a${i}`))),
    ...[1, 2].map((i) => b.take(1000).then(() => order.push(`b${i}`))),
  ]);
  assert.deepEqual(order, ["a1", "a2", "b1", "a3", "b2", "a4", "a5", "a6"]);
});

Deno.test("chain() waits on each throttle: the lower cap sets the pace", async () => {
  const job = new RateLimiter(8); // 1 MB/s, burst 250 kB
  const site = new FairRateLimiter(80); // 10 MB/s
  const both = chain(job, site.flow("j"))!;
  const started = performance.now();
  for (let sent = 0; sent < 1_250_000; sent += 50_000) await both.take(50_000);
  const seconds = (performance.now() - started) / 1000;
  assert.ok(seconds >= 0.9, `${seconds.toFixed(2)} s`); // 1 MB past the job's burst at 1 MB/s
  assert.equal(chain(undefined, job), job);
  assert.equal(chain(undefined, undefined), undefined);
});

Deno.test("FairRateLimiter shares by bytes: a flow of large chunks gets no more than one of small chunks", async () => {
  const site = new FairRateLimiter(100_000); // no wait at all: the order alone is under test
  const passed = { big: 0, small: 0 };
  let firstDone: { big: number; small: number } | undefined;
  const take = (flow: "big" | "small", bytes: number, count: number) =>
    Promise.all(
      Array.from({ length: count }, () =>
        site.flow(flow).take(bytes).then(() => {
          passed[flow] += bytes;
        })),
    ).then(() => firstDone ??= { ...passed });
  // 4 MiB each: the relays of a local agent (256 KiB frames) and of one another hub carries (64 KiB).
  await Promise.all([take("big", 256 * 1024, 16), take("small", 64 * 1024, 64)]);
  // When the first flow had passed all its bytes, the other had passed about as many (a chunk each in turn
  // would have let the small one pass a quarter).
  assert.ok(
    firstDone!.big >= 3.5 * 1024 * 1024 && firstDone!.small >= 3.5 * 1024 * 1024,
    JSON.stringify(firstDone),
  );
  // A flow that starts late counts from the fewest bytes of those waiting: it does not take the site for itself.
  const order: string[] = [];
  const old = site.flow("old"), late = site.flow("late");
  const olds = [1, 2, 3, 4].map((i) => old.take(1000).then(() => order.push(`old${i}`)));
  await olds[0];
  await Promise.all([...olds, ...[1, 2].map((i) => late.take(1000).then(() => order.push(`late${i}`)))]);
  // (Counted from zero, late would pass both its chunks before old's third.)
  assert.deepEqual(order, ["old1", "old2", "old3", "late1", "old4", "late2"]);
});
