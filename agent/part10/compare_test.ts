import assert from "node:assert/strict";
import { bytesEqual, sameRange } from "./compare.ts";
import { type ByteSource, memorySource, openFile } from "./source.ts";

/** Pseudo-random bytes, the same for the same seed. */
function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** `body` behind a prefix of `prefix` other bytes (a data set behind another File Meta group). */
function behind(prefix: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix + body.length).fill(0xee);
  out.set(body, prefix);
  return out;
}

const LONG = (1 << 20) * 2 + 12_345; // three blocks, the last partial

Deno.test("sameRange(): equal ranges at other offsets, over several blocks", async () => {
  const body = bytes(LONG);
  assert(await sameRange(memorySource(behind(132, body)), 132, memorySource(behind(7, body)), 7, LONG));
});

Deno.test("sameRange(): a difference in any block, the last byte included, is found", async () => {
  const body = bytes(LONG);
  for (const at of [0, (1 << 20) - 1, 1 << 20, LONG - 1]) {
    const other = body.slice();
    other[at] ^= 1;
    assert.equal(await sameRange(memorySource(body), 0, memorySource(other), 0, LONG), false, `byte ${at}`);
  }
});

Deno.test("sameRange(): a source shorter than the range is not the same", async () => {
  const body = bytes(5000);
  assert.equal(await sameRange(memorySource(body), 0, memorySource(body.subarray(0, 4999)), 0, 5000), false);
  assert.equal(await sameRange(memorySource(body.subarray(0, 4999)), 0, memorySource(body), 0, 5000), false);
  assert(await sameRange(memorySource(body), 0, memorySource(body), 0, 0));
});

Deno.test("sameRange(): comparisons side by side keep to their own blocks", async () => {
  const a = bytes(LONG, 3), b = bytes(LONG, 4);
  const slow = (s: ByteSource): ByteSource => ({
    ...s,
    read: async (into, position) => {
      await new Promise((r) => setTimeout(r, 1));
      return s.read(into, position);
    },
  });
  const results = await Promise.all([
    sameRange(slow(memorySource(a)), 0, slow(memorySource(a.slice())), 0, LONG),
    sameRange(slow(memorySource(b)), 0, slow(memorySource(a)), 0, LONG),
    sameRange(slow(memorySource(b)), 0, slow(memorySource(b.slice())), 0, LONG),
  ]);
  assert.deepEqual(results, [true, false, true]);
});

Deno.test("sameRange(): files on disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const body = bytes(600_000);
    await Deno.writeFile(`${dir}/a`, behind(300, body));
    const changed = body.slice();
    changed[599_999] ^= 0x80;
    await Deno.writeFile(`${dir}/b`, behind(10, changed));
    await Deno.writeFile(`${dir}/c`, behind(10, body));
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((n) => openFile(`${dir}/${n}`)));
    try {
      assert.equal(await sameRange(a, 300, b, 10, body.length), false);
      assert(await sameRange(a, 300, c, 10, body.length));
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bytesEqual(): compares the views, not their buffers", () => {
  const buf = bytes(64);
  assert(bytesEqual(buf.subarray(8, 24), buf.slice(8, 24)));
  assert.equal(bytesEqual(buf.subarray(8, 24), buf.subarray(9, 25)), false);
  assert.equal(bytesEqual(buf.subarray(0, 3), buf.subarray(0, 4)), false);
});
