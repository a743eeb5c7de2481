import assert from "node:assert/strict";
import * as path from "node:path";
import { objectTag, ThumbnailCache } from "./cache.ts";

const key = (n: number) => n.toString(16).padStart(64, "0");

Deno.test("ThumbnailCache stays under its bound, dropping the least recently used, across a restart", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = await ThumbnailCache.open(dir, 250);
    for (const n of [1, 2]) await cache.put(key(n), new Uint8Array(100).fill(n), "png");
    assert.ok(await cache.get(key(1)), "1 is used, so 2 is now the least recently used");
    await cache.put(key(3), new Uint8Array(100).fill(3), "jpg");
    assert.equal(await cache.get(key(2)), undefined);
    assert.deepEqual((await cache.get(key(3)))?.[0], 3);
    assert.equal(cache.bytes, 200);
    assert.equal([...Deno.readDirSync(dir)].length, 2);
    // Larger than the whole bound: not kept.
    await cache.put(key(4), new Uint8Array(300), "png");
    assert.equal(await cache.get(key(4)), undefined);
    // Reopened smaller: trimmed to the new bound at once, the oldest file first.
    await Deno.writeFile(path.join(dir, `${key(9)}.png.abc.part`), new Uint8Array(5));
    const again = await ThumbnailCache.open(dir, 150);
    assert.equal(again.count, 1);
    assert.ok(again.bytes <= 150);
    assert.equal([...Deno.readDirSync(dir)].length, 1, "the partial file is gone too");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ThumbnailCache: an erasure removes its objects' thumbnails, which the running cache then forgets", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = await ThumbnailCache.open(dir, 1000);
    const of = (sop: string, n: number) => `${objectTag(sop)}-${key(n)}`;
    await cache.put(of("1.2.3", 1), new Uint8Array(10), "jpg");
    await cache.put(of("1.2.3", 2), new Uint8Array(10), "png");
    await cache.put(of("1.2.4", 3), new Uint8Array(10), "jpg");
    await cache.put(key(4), new Uint8Array(10), "jpg"); // named as before the tag: kept, and still read
    assert.equal(await ThumbnailCache.removeObjects(dir, ["1.2.3"]), 2);
    assert.equal(await cache.get(of("1.2.3", 1)), undefined);
    assert.ok(await cache.get(of("1.2.4", 3)));
    assert.ok(await cache.get(key(4)));
    assert.equal((await ThumbnailCache.open(dir, 1000)).count, 2);
    assert.equal(await ThumbnailCache.removeObjects(path.join(dir, "none"), ["1.2.3"]), 0);
    // Those named before the tag are whose no one can tell: removed as such, at start.
    assert.equal(await ThumbnailCache.removeUntagged(dir), 1);
    assert.equal(await cache.get(key(4)), undefined);
    assert.ok(await cache.get(of("1.2.4", 3)));
    assert.equal(await ThumbnailCache.removeUntagged(path.join(dir, "none")), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
