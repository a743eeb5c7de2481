import assert from "node:assert/strict";
import { z } from "zod";
import { toTrpcError } from "./errors.ts";

/** The shape of a transfer's `window`: one window or a list of them. */
const one = z.object({ start: z.string(), end: z.string(), days: z.array(z.string()).optional() }).strict();
const input = z.object({ window: z.union([one, z.array(one).min(1)]).optional() }).strict();

/** The sentence a client gets for `value`. */
function refusal(value: unknown): string {
  const parsed = input.safeParse(value);
  assert.ok(!parsed.success);
  const err = toTrpcError(parsed.error);
  assert.equal(err.code, "BAD_REQUEST");
  return err.message;
}

Deno.test("toTrpcError() says what is wrong inside a union (one window or a list), not 'Invalid input'", () => {
  assert.equal(refusal({ window: { start: "22:00" } }), "the input was refused: window.end: required");
  assert.equal(
    refusal({ window: { start: "22:00", end: "06:00", every: "day" } }),
    "the input was refused: window: Unrecognized key(s) in object: 'every'",
  );
  assert.equal(
    refusal({ window: [{ start: "22:00", end: "06:00" }, { start: 7, end: "08:00" }] }),
    "the input was refused: window.1.start: Expected string, received number",
  );
  assert.equal(
    refusal({ window: [] }),
    "the input was refused: window: Array must contain at least 1 element(s)",
  );
  assert.equal(
    refusal({ window: null }),
    "the input was refused: window: expected object or array, received null",
  );
  assert.equal(
    refusal({ window: "22:00" }),
    "the input was refused: window: expected object or array, received string",
  );
});
