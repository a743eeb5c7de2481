import assert from "node:assert/strict";
import { BufferPool, Lease, Spares } from "./read_buffers.ts";

Deno.test("a closed pool leaves its free buffers, and those released later, to the spares; a new pool takes them", () => {
  const spares = new Spares(4);
  const first = new BufferPool(64, 8, spares);
  const free = first.take();
  const held = first.take();
  first.give(free);
  const lease = new Lease(held, first);
  const release = lease.hold();
  first.close();
  assert.equal(first.free, 0);
  assert.equal(spares.free, 1, "the free buffer");
  release();
  assert.equal(spares.free, 2, "the buffer released after the close");

  const next = new BufferPool(64, 8, spares);
  const taken = [next.take(), next.take(), next.take()];
  assert.ok(taken.includes(free) && taken.includes(held), "the spares are used before new buffers");
  assert.equal(spares.free, 0);
  assert.equal(new Set(taken).size, 3, "no buffer handed out twice");
});

Deno.test("Spares keep at most their limit, and hand out only buffers as large as asked", () => {
  const spares = new Spares(2);
  for (const n of [16, 64, 128]) spares.give(new Uint8Array(n));
  assert.equal(spares.free, 2);
  assert.equal(spares.take(100), undefined, "none of 100 bytes or more kept (the third was not kept)");
  assert.equal(spares.take(32)?.length, 64);
  assert.equal(spares.take(8)?.length, 16);
  assert.equal(spares.take(8), undefined);

  const pool = new BufferPool(64, 8, spares);
  spares.give(new Uint8Array(16));
  assert.equal(pool.take().length, 64, "a spare smaller than the pool's size is not used");
  assert.equal(spares.free, 1);
});
