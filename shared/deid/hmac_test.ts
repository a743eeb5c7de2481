import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { hmacSha256 } from "./hmac.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("hmacSha256() gives createHmac's bytes for keys and messages around the block boundaries", () => {
  let seed = 1;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (const keyLength of [0, 1, 31, 32, 55, 63, 64, 65, 119, 200]) {
    const key = Uint8Array.from({ length: keyLength }, () => next() & 0xff);
    for (let length = 0; length < 200; length++) {
      // ASCII and, every third message, characters of two, three and four UTF-8 bytes.
      const message = Array.from(
        { length },
        (_, i) =>
          i % 3 === 0 && length % 3 === 0
            ? ["é", "€", "😀"][i % 9 / 3]
            : String.fromCharCode(32 + next() % 95),
      ).join("");
      assert.equal(
        hex(hmacSha256(key, message)),
        createHmac("sha256", key).update(message).digest("hex"),
        `key ${keyLength} bytes, message ${JSON.stringify(message)}`,
      );
    }
  }
});

Deno.test("hmacSha256() keeps apart two keys used in turn, and a key changed in place", () => {
  const a = new Uint8Array(32).fill(1);
  const b = new Uint8Array(32).fill(2);
  for (const key of [a, b, a]) {
    assert.equal(
      hex(hmacSha256(key, "uid\u00001.2.3")),
      createHmac("sha256", key).update("uid\u00001.2.3").digest("hex"),
    );
  }
  a[0] = 9;
  assert.equal(hex(hmacSha256(a, "x")), createHmac("sha256", a).update("x").digest("hex"));
});
