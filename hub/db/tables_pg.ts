/**
 * The PostgreSQL tables, derived from the one description in tables.ts: text stays text, an integer
 * becomes a 64-bit integer read as a number (times are milliseconds since 1970, past 32 bits), a real
 * becomes double precision, an auto-increment key a bigserial. drizzle-kit generates the PostgreSQL
 * migrations from these (`deno task db:generate:hub`); a column type the mapping does not know stops
 * the generator and the hub at start rather than guess.
 */
import { getTableConfig, type SQLiteColumn, type SQLiteTable } from "drizzle-orm/sqlite-core";
import {
  bigint,
  bigserial,
  doublePrecision,
  index,
  type PgColumnBuilderBase,
  pgTable,
  text,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import * as sqlite from "./tables.ts";

function column(c: SQLiteColumn): PgColumnBuilderBase {
  if (
    c.columnType === "SQLiteInteger" && c.primary &&
    (c as unknown as { autoIncrement: boolean }).autoIncrement
  ) {
    return bigserial(c.name, { mode: "number" }).primaryKey();
  }
  // deno-lint-ignore no-explicit-any
  let b: any;
  if (c.columnType === "SQLiteText") b = text(c.name);
  else if (c.columnType === "SQLiteInteger") b = bigint(c.name, { mode: "number" });
  else if (c.columnType === "SQLiteReal") b = doublePrecision(c.name);
  else throw new Error(`hub schema: no PostgreSQL type for ${c.name} (${c.columnType})`);
  if (c.primary) b = b.primaryKey();
  if (c.notNull) b = b.notNull();
  if (c.hasDefault && c.default !== undefined) b = b.default(c.default);
  return b;
}

/** The PostgreSQL twin of one SQLite table (same table and column names, same keys, same indexes). */
export function toPg<T extends SQLiteTable>(table: T) {
  const config = getTableConfig(table);
  const columns: Record<string, PgColumnBuilderBase> = {};
  for (const [key, c] of Object.entries(table)) {
    // deno-lint-ignore no-explicit-any
    if (config.columns.includes(c as any)) columns[key] = column(c as SQLiteColumn);
  }
  const indexes = config.indexes.map((i) => {
    if (i.config.where) {
      throw new Error(
        `hub schema: index ${i.config.name}: only plain and unique indexes are mapped to PostgreSQL`,
      );
    }
    return {
      name: i.config.name,
      unique: i.config.unique,
      columns: i.config.columns.map((c) => {
        if (!("name" in c)) throw new Error(`hub schema: index ${i.config.name}: only columns are mapped`);
        return c.name;
      }),
    };
  });
  if (!indexes.length) return pgTable(config.name, columns);
  return pgTable(config.name, columns, (t) => {
    const byName = new Map(Object.values(t).map((c) => [c.name, c]));
    return indexes.map((i) => {
      const [first, ...rest] = i.columns.map((name) => byName.get(name)!);
      return (i.unique ? uniqueIndex : index)(i.name).on(first, ...rest);
    });
  });
}

export const sites = toPg(sqlite.sites);
export const apiTokens = toPg(sqlite.apiTokens);
export const transfers = toPg(sqlite.transfers);
export const transferTasks = toPg(sqlite.transferTasks);
export const transferTaskCounts = toPg(sqlite.transferTaskCounts);
export const batches = toPg(sqlite.batches);
export const users = toPg(sqlite.users);
export const sessions = toPg(sqlite.sessions);
export const audit = toPg(sqlite.audit);
export const hubs = toPg(sqlite.hubs);
export const siteLeases = toPg(sqlite.siteLeases);
export const clusterSettings = toPg(sqlite.clusterSettings);
export const credentialRotations = toPg(sqlite.credentialRotations);
