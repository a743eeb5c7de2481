import assert from "node:assert/strict";
import * as net from "node:net";
import { createClient } from "@libsql/client";
import { drizzle } from "drizzle-orm/postgres-js";
import { sql } from "drizzle-orm";
import postgres from "postgres";
import { databaseAwayReason, dbFailureReason, isDatabaseAway } from "./errors.ts";
import { reconnectDelayS } from "./db.ts";

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

Deno.test("isDatabaseAway() is true for a drizzle query whose PostgreSQL cannot be reached", async () => {
  const client = postgres(`postgres://x@127.0.0.1:${await closedPort()}/x`, { max: 1, onnotice: () => {} });
  const err = await drizzle(client).execute(sql`select ${"a value"} as v`).then(() => undefined, (e) => e);
  await client.end();
  assert.ok(err instanceof Error);
  assert.ok(isDatabaseAway(err), String(err));
  // What a log says of it: the driver's code and words, not drizzle's query with its parameters.
  const reason = databaseAwayReason(err);
  assert.match(reason, /ECONNREFUSED/);
  assert.doesNotMatch(reason, /select|a value/);
  assert.equal(dbFailureReason(err), reason);
});

Deno.test("isDatabaseAway() is false for a query the database refused (a fault of the query)", async () => {
  const client = createClient({ url: ":memory:" });
  const err = await client.execute("select * from no_such_table").then(() => undefined, (e) => e);
  client.close();
  assert.ok(err instanceof Error);
  assert.equal(isDatabaseAway(err), false);
  assert.equal(isDatabaseAway(new Error("internal")), false);
  assert.equal(isDatabaseAway(undefined), false);
});

Deno.test("reconnectDelayS() grows from 50 ms and never passes 1 s", () => {
  for (let i = 0; i < 40; i++) {
    const d = reconnectDelayS(i);
    assert.ok(d > 0 && d <= 1, `retry ${i}: ${d} s`);
  }
  assert.ok(reconnectDelayS(0) <= 0.05);
});

Deno.test("dbFailureReason() keeps a failed query's words and leaves its parameters out", () => {
  const err = new Error(
    'Failed query: insert into "transfer_tasks" ("study") values ($1)\nparams: 1.2.840.99.1',
  );
  assert.equal(dbFailureReason(err), 'Failed query: insert into "transfer_tasks" ("study") values ($1)');
  assert.equal(dbFailureReason("a string"), "a string");
});
