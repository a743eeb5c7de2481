/**
 * "Do these writes atomically", on either dialect: libsql's `batch` (one transaction on the hub's own
 * connection: libsql's `transaction()` would open a second connection without the busy timeout), a
 * transaction on PostgreSQL. Build the statements on the `tx` handed to `build`, never on the
 * database itself, or on PostgreSQL they would run outside the transaction.
 */
import type { BatchItem } from "drizzle-orm/batch";
import type { LibSQLDatabase } from "drizzle-orm/libsql";
import type { HubDb } from "./db.ts";

export async function atomically(
  db: HubDb,
  build: (tx: HubDb) => BatchItem<"sqlite">[],
): Promise<unknown[]> {
  if (db.engine === "sqlite") {
    const items = build(db);
    if (items.length === 0) return [];
    // HubDb hides libsql's batch (it does not exist on PostgreSQL); here is the one place it is used.
    return await (db as unknown as LibSQLDatabase).batch(
      items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]],
    );
  }
  // deno-lint-ignore no-explicit-any
  return await (db as any).transaction(async (tx: HubDb) => {
    const out: unknown[] = [];
    for (const q of build(tx)) out.push(await q);
    return out;
  });
}
