import assert from "node:assert/strict";
import { fromBase64, toBase64 } from "./base64.ts";

Deno.test("toBase64() encodes more bytes than one call's arguments can hold, and fromBase64() gives them back", () => {
  const bytes = new Uint8Array(1_000_003).map((_, i) => (i * 7) % 256);
  const text = toBase64(bytes);
  assert.equal(text.length, 4 * Math.ceil(bytes.length / 3));
  assert.deepEqual(fromBase64(text), bytes);
});

Deno.test("toBase64() agrees with btoa on short inputs, empty included", () => {
  assert.equal(toBase64(new Uint8Array(0)), "");
  assert.equal(toBase64(new TextEncoder().encode("Conduit")), btoa("Conduit"));
});

Deno.test("fromBase64() refuses text that is not base64", () => {
  assert.throws(() => fromBase64("not base64!"));
});
