import assert from "node:assert/strict";
import * as path from "node:path";
import { createClient } from "@libsql/client";
import { sql } from "drizzle-orm";
import { isBusy, reconnectOnBusy } from "./busy.ts";
import { openHubFile } from "./db.ts";

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "conduit-hub-busy-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a write that fails busy leaves the client able to commit, and loses nothing written after it", async () => {
  await withDir(async (dir) => {
    const url = `file:${path.join(dir, "t.db")}`;
    const client = reconnectOnBusy(createClient({ url, concurrency: 1, timeout: 50 }));
    const other = createClient({ url });
    const third = createClient({ url });
    try {
      await client.execute("PRAGMA journal_mode = WAL");
      await client.execute("CREATE TABLE t (x INTEGER)");
      // Another process holds the write lock longer than the client waits.
      const held = await other.transaction("write");
      await held.execute("INSERT INTO t VALUES (0)");
      await assert.rejects(client.execute("INSERT INTO t VALUES (1)"), isBusy);
      await held.commit();
      // Unguarded, this write returned but stayed uncommitted (and was lost when the failed statement was
      // finalized), and the batch failed at its COMMIT: "SQL statements in progress".
      await client.execute("INSERT INTO t VALUES (9)");
      await client.batch(["INSERT INTO t VALUES (2)", "INSERT INTO t VALUES (3)"]);
      const seen = (await third.execute("SELECT x FROM t ORDER BY rowid")).rows.map((r) => Number(r.x));
      assert.deepEqual(seen, [0, 9, 2, 3], "another connection sees every write after the busy one");
    } finally {
      client.close();
      other.close();
      third.close();
    }
  });
});

Deno.test("the hub's libsql file waits on a lock the same on every call, however many run at once", async () => {
  await withDir(async (dir) => {
    const db = await openHubFile(path.join(dir, "hub.db"));
    try {
      // @libsql/client 0.18 opened a connection per concurrent call, and only the first had the busy
      // timeout: [5000, 0, 0, 0].
      const timeouts = await Promise.all(
        [1, 2, 3, 4].map(async () => Object.values((await db.all(sql`PRAGMA busy_timeout`))[0] as object)[0]),
      );
      assert.deepEqual(timeouts, [5000, 5000, 5000, 5000]);
    } finally {
      await db.close();
    }
  });
});
