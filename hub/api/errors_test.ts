import assert from "node:assert/strict";
import { z } from "zod";
import { TRPCError } from "@trpc/server";
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

Deno.test("toTrpcError() answers 'internal error' for what a procedure threw unforeseen, keeping it as the cause", () => {
  // As tRPC hands it over: what the procedure threw, wrapped with its own message.
  const thrown = new Error("SQLITE_CONSTRAINT: UNIQUE constraint failed: transfers.idempotency_key");
  const err = toTrpcError(new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: thrown }));
  assert.equal(err.code, "INTERNAL_SERVER_ERROR");
  assert.equal(err.message, "internal error");
  assert.equal(err.cause, thrown, "the hub's log still gets what happened");
  // A TRPCError a procedure threw itself keeps its code and sentence.
  const own = new TRPCError({ code: "UNAUTHORIZED", message: "the credential was revoked or has expired" });
  assert.equal(toTrpcError(own), own);
  const ownInternal = new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "the hub is stopping" });
  assert.equal(toTrpcError(ownInternal).message, "the hub is stopping");
});

Deno.test("toTrpcError() answers a query on a database that is away SERVICE_UNAVAILABLE, without the query", () => {
  // drizzle's wrapping of the driver's error, as a query on a stopped PostgreSQL fails.
  const driver = Object.assign(new Error("write CONNECTION_CLOSED 127.0.0.1:5432"), {
    code: "CONNECTION_CLOSED",
  });
  const failed = new Error(
    'Failed query: select "secret_hash" from "api_tokens" where "id" = $1\nparams: abc',
    {
      cause: driver,
    },
  );
  const err = toTrpcError(failed);
  assert.equal(err.code, "SERVICE_UNAVAILABLE");
  assert.match(err.message, /the hub cannot reach its database/);
  assert.doesNotMatch(err.message, /select|api_tokens|abc/);
  // Any other failure stays an internal error with nothing of its own words, wrapped by tRPC as a
  // procedure's throw is (a TRPCError with the thrown error's message) or not.
  assert.equal(toTrpcError(new Error("Failed query: select 1")).message, "internal error");
  const thrown = new Error('Failed query: select "name" from "users"\nparams: alice');
  const asTrpcWrapsIt = new TRPCError({ code: "INTERNAL_SERVER_ERROR", cause: thrown });
  assert.equal(asTrpcWrapsIt.message, thrown.message);
  const answered = toTrpcError(asTrpcWrapsIt);
  assert.equal(answered.code, "INTERNAL_SERVER_ERROR");
  assert.equal(answered.message, "internal error");
  assert.equal(answered.cause, thrown, "the log keeps what failed");
  // A TRPCError a procedure throws on purpose keeps its words.
  const meant = new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "the batch file could not be kept" });
  assert.equal(toTrpcError(meant).message, "the batch file could not be kept");
});
