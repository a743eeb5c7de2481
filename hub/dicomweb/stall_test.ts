import assert from "node:assert/strict";
import { eventually } from "../../tests/support/hub.ts";
import { SLICE, stallBound, StalledClientError } from "./stall.ts";

const STALL_MS = 150;
const after = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A body of `chunks` chunks of `size` bytes, each given after `delayMs`; records its cancel reason. */
function body(chunks: number, size: number, delayMs = 0) {
  const state: { cancelled?: unknown; given: number } = { given: 0 };
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (delayMs) await after(delayMs);
      if (state.given === chunks) return c.close();
      state.given++;
      c.enqueue(new Uint8Array(size));
    },
    cancel(reason) {
      state.cancelled = reason;
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

Deno.test("stallBound() cancels the body when its reader stops asking for more, and says so once", async () => {
  const { stream, state } = body(100, 1000);
  let stalls = 0;
  const reader = stallBound(stream, STALL_MS, () => stalls++).getReader();
  await reader.read();
  await eventually("the body cancelled", () => state.cancelled, 5_000);
  assert.ok(state.cancelled instanceof StalledClientError);
  await assert.rejects(reader.read(), StalledClientError);
  assert.equal(stalls, 1);
  assert.ok(state.given < 100, "the body was not read to its end");
});

Deno.test("stallBound() does not count the time its body waits on the site", async () => {
  // Each chunk comes after twice the bound: a slow site, not a stalled client.
  const { stream, state } = body(3, 1000, 2 * STALL_MS);
  let stalls = 0;
  let bytes = 0;
  for await (const chunk of stallBound(stream, STALL_MS, () => stalls++)) bytes += chunk.length;
  assert.deepEqual([bytes, stalls, state.cancelled], [3000, 0, undefined]);
});

Deno.test("stallBound() keeps an answer whose connection still takes bytes (progress moves)", async () => {
  const { stream, state } = body(100, 1000);
  let stalls = 0;
  let moving = true;
  // A send queue that differs at every look while `moving`, then stays.
  const queue = () => moving ? performance.now() : 0;
  const reader = stallBound(stream, STALL_MS, () => stalls++, queue).getReader();
  await reader.read();
  // The reader asks for nothing more for four bounds, but the connection's queue moves meanwhile.
  await after(4 * STALL_MS);
  assert.deepEqual([stalls, state.cancelled], [0, undefined]);
  moving = false;
  // Once the queue stops moving too, the bound applies.
  await eventually("the body cancelled", () => state.cancelled, 5_000);
  assert.equal(stalls, 1);
});

Deno.test("stallBound() hands a large chunk over in slices of at most SLICE bytes, all of it", async () => {
  const { stream } = body(2, 3 * SLICE + 5);
  const sizes: number[] = [];
  for await (const chunk of stallBound(stream, 60_000, () => {})) sizes.push(chunk.length);
  assert.deepEqual(sizes, [SLICE, SLICE, SLICE, 5, SLICE, SLICE, SLICE, 5]);
});
