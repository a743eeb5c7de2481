/**
 * Counts what a hub database hands back from one table: the queries that read it (`db.select().from(table)`
 * and `db.query.<name>.findFirst/findMany`) and the rows they answered. The same drizzle database, on libsql
 * or PostgreSQL, seen through a proxy; what a test asserts of a service's reads ("a cancel reads the tasks
 * it changes, not every task of the job"), not how long they took.
 */
import { getTableName, type Table } from "drizzle-orm";
import type { HubDb } from "../../hub/db/db.ts";

export interface TableReads {
  /** The database to hand to the code under test. */
  db: HubDb;
  /** Queries of the table and rows they answered since the last reset. */
  counts(): { queries: number; rows: number };
  reset(): void;
}

/** Reads of `table` through the returned `db` are counted; everything else goes to `db` as it is. */
export function tableReads(db: HubDb, table: Table): TableReads {
  let queries = 0, rows = 0;
  const counted = (answer: unknown) => {
    queries++;
    rows += Array.isArray(answer) ? answer.length : answer === undefined ? 0 : 1;
    return answer;
  };
  /** A query on its way: each step returns the query again (wrapped); awaiting it counts what it answers. */
  const query = <Q extends object>(q: Q): Q =>
    new Proxy(q, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target);
        if (typeof value !== "function") return value;
        if (prop === "then") {
          return (ok?: (v: unknown) => unknown, fail?: (e: unknown) => unknown) =>
            (value as Promise<unknown>["then"]).call(target, (v) => ok ? ok(counted(v)) : counted(v), fail);
        }
        return (...args: unknown[]) => {
          const next = value.apply(target, args);
          return next && typeof next === "object" && "then" in next ? query(next) : next;
        };
      },
    });
  const name = getTableName(table);
  const proxied = new Proxy(db, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop === "select") {
        return (...args: unknown[]) => {
          const builder = value.apply(target, args);
          return new Proxy(builder, {
            get(b, p) {
              const from = Reflect.get(b, p, b);
              if (p !== "from") return typeof from === "function" ? from.bind(b) : from;
              return (t: Table) => (t === table ? query(from.call(b, t)) : from.call(b, t));
            },
          });
        };
      }
      if (prop === "query") {
        return new Proxy(value, {
          get(q, key) {
            const relational = Reflect.get(q, key, q);
            const schema = (target as unknown as { _: { fullSchema: Record<string, Table | undefined> } })._;
            const of = typeof key === "string" ? schema.fullSchema[key] : undefined;
            const keyed = of !== undefined && getTableName(of) === name;
            if (!keyed) return relational;
            return new Proxy(relational, {
              get(r, method) {
                const fn = Reflect.get(r, method, r);
                return typeof fn === "function" ? (...args: unknown[]) => query(fn.apply(r, args)) : fn;
              },
            });
          },
        });
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as HubDb;
  return {
    db: proxied,
    counts: () => ({ queries, rows }),
    reset: () => {
      queries = 0;
      rows = 0;
    },
  };
}
