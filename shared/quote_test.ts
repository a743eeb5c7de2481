import assert from "node:assert/strict";
import { quoted } from "./quote.ts";

Deno.test("quoted() gives a short value's JSON, and a long one's first characters and its length", () => {
  assert.equal(quoted("1.2.3"), '"1.2.3"');
  assert.equal(quoted(5), "5");
  assert.equal(quoted(undefined), "undefined");
  assert.equal(quoted("A".repeat(1000)), `"${"A".repeat(79)}… (1002 characters)`);
  assert.equal(quoted("abcdef", 4), '"abc… (8 characters)');
});
