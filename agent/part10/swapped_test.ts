import assert from "node:assert/strict";
import { memorySource } from "./source.ts";
import { swappedSource } from "./swapped.ts";

Deno.test("swappedSource() reverses each number of the value whatever the reads' positions and lengths", async () => {
  // Two header bytes, then four 32-bit numbers big endian.
  const bytes = new Uint8Array([9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  const source = swappedSource(memorySource(bytes), 2, 4);
  const whole = new Uint8Array(16);
  assert.equal(await source.read(whole, 2), 16);
  assert.deepEqual([...whole], [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13]);
  const middle = new Uint8Array(5);
  assert.equal(await source.read(middle, 5), 5);
  assert.deepEqual([...middle], [1, 8, 7, 6, 5]);
  const tail = new Uint8Array(8);
  assert.equal(await source.read(tail, 15), 3, "fewer at the end");
  assert.deepEqual([...tail.subarray(0, 3)], [15, 14, 13]);
});
