/**
 * The statements a piece of agent code runs on its index, with SQLite's plan for each: what
 * agent/index/scale_test.ts asserts on and tests/tools/index_scale.ts prints.
 */
import type { SQL } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import type { Database, Statement } from "../../agent/index/db.ts";

const dialect = new SQLiteAsyncDialect();

export interface PlannedStatement {
  sql: string;
  params: unknown[];
  /** EXPLAIN QUERY PLAN's lines (`SEARCH q USING INDEX ...`), one per line. */
  plan: string;
}

/**
 * Runs `fn` and returns every statement it ran through `db.statement`, `db.query` or `db.read` (drizzle's
 * `sql` templates, as C-FIND makes them), with its plan.
 */
export async function plansOf(db: Database, fn: () => unknown): Promise<PlannedStatement[]> {
  const made: { sql: string; params: unknown[] }[] = [];
  const statement = db.statement.bind(db);
  const query = db.query.bind(db);
  db.statement = (sql: string): Statement => {
    const st = statement(sql);
    const seen = (params: unknown[]) => made.push({ sql, params });
    return {
      run: (...p) => (seen(p), st.run(...p)),
      get: (...p) => (seen(p), st.get(...p)),
      all: (...p) => (seen(p), st.all(...p)),
    };
  };
  db.query = <T>(sql: string, args: (string | number | null)[] = []) => (
    made.push({ sql, params: args }), query<T>(sql, args)
  );
  const read = db.read;
  Object.defineProperty(db, "read", {
    value: {
      all: <T>(q: SQL) => {
        const { sql, params } = dialect.sqlToQuery(q);
        made.push({ sql, params });
        return read.all<T>(q);
      },
    },
  });
  try {
    await fn();
  } finally {
    db.statement = statement;
    db.query = query;
    Object.defineProperty(db, "read", { value: read });
  }
  // Explained on the reader connection: an EXPLAIN of a DELETE left on the writer keeps its next commit from
  // completing (libsql: "SQL statements in progress").
  const planned: PlannedStatement[] = [];
  for (const { sql, params } of made) {
    const rows = await query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params as (string | number)[]);
    planned.push({ sql, params, plan: rows.map((r) => r.detail).join("\n") });
  }
  return planned;
}
