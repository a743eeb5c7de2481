/**
 * The hub's libsql client, kept whole across SQLITE_BUSY. libsql (0.5.29, under @libsql/client 0.18) leaves a
 * statement that failed busy in progress until the garbage collector finalizes it, and SQLite counts it as a
 * writer meanwhile: every COMMIT on that connection then fails ("cannot commit transaction - SQL statements
 * in progress", although the lock is free), and a write outside a transaction still returns, but is not
 * committed, and is lost when the failed statement is finalized (measured here; the report upstream is
 * tursodatabase/libsql-client-ts#352). A call that fails busy therefore replaces the client's connection
 * (`reconnect`) before the next call runs: the failed write is the caller's to handle, as before, and
 * nothing after it is lost.
 *
 * Calls run one at a time, as the hub's single connection runs them anyway (each is synchronous inside
 * libsql): the connection is replaced with no other call holding it. `transaction()` is not guarded (the
 * hub does not use it on libsql; it would hold the one connection across awaits).
 */
import type { Client } from "@libsql/client";

/** True for SQLite's SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT...), as libsql reports them. */
export function isBusy(err: unknown): boolean {
  const code = String((err as { code?: unknown } | undefined)?.code ?? "");
  return code.startsWith("SQLITE_BUSY");
}

/**
 * Guards `client` in place (and returns it): execute, batch, migrate and executeMultiple run one at a time,
 * and one that fails busy reconnects, then runs `setUp` (the connection's pragmas) on the new connection.
 */
export function reconnectOnBusy(client: Client, setUp: string[] = []): Client {
  let turn: Promise<unknown> = Promise.resolve();
  const guard = <A extends unknown[], R>(call: (...args: A) => Promise<R>) => (...args: A): Promise<R> => {
    const run = turn.then(async () => {
      try {
        return await call(...args);
      } catch (err) {
        if (isBusy(err) && !client.closed) {
          await client.reconnect();
          try {
            for (const pragma of setUp) await execute(pragma);
          } catch { /* the next call meets what is wrong, and says so */ }
        }
        throw err;
      }
    });
    turn = run.catch(() => {});
    return run;
  };
  const execute = client.execute.bind(client) as (sql: string) => Promise<unknown>;
  client.execute = guard(client.execute.bind(client)) as Client["execute"];
  client.batch = guard(client.batch.bind(client)) as Client["batch"];
  client.migrate = guard(client.migrate.bind(client)) as Client["migrate"];
  client.executeMultiple = guard(client.executeMultiple.bind(client)) as Client["executeMultiple"];
  return client;
}
