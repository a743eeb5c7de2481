/**
 * The audit log: who did what and when. Each entry is written atomically with the change it records
 * (`atomically(db, (tx) => [change, entry(tx, ...)])`, db/atomic.ts), so a change never lands without
 * its entry, nor an entry without its change.
 *
 * Read newest first (by `at`, ties by id), whole or filtered by who (`actor`), what (`action`, exact or a
 * prefix such as `site.`), on what (`target`) and when (`from` inclusive, `to` exclusive). Each filter has
 * an index ending in (at, id) (db/tables.ts), so a page of a log of millions is a walk down one index.
 */
// @ts-types="npm:@types/papaparse@^5"
import Papa from "papaparse";
import { FORMULA } from "../csv.ts";
import { and, desc, eq, gt, gte, inArray, lt, min, or, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { HubDb } from "../db/db.ts";
import { atomically } from "../db/atomic.ts";
import { audit } from "../db/schema.ts";

/** The insert of one entry, to run atomically with its change (build it on the same `tx`). */
export function entry(
  db: HubDb,
  actor: string,
  action: string,
  target?: string,
  detail?: Record<string, unknown>,
) {
  return db.insert(audit).values({
    at: Date.now(),
    actor,
    action,
    target: target ?? null,
    detail: detail ? JSON.stringify(detail) : null,
  });
}

/**
 * SQLite only: the insert of one entry that writes it only if the statement just before it in the same batch
 * changed a row (`changes()`), for a change guarded by its own WHERE (the condition part of the write, never a
 * read before it). On PostgreSQL, read the change's `returning` in a transaction and call {@link entry}.
 */
export function entryIfChanged(
  db: HubDb,
  actor: string,
  action: string,
  target?: string,
  detail?: Record<string, unknown>,
) {
  const row = sql`select ${Date.now()}, ${actor}, ${action}, ${target ?? null}, ${
    detail ? JSON.stringify(detail) : null
  }`;
  return db.run(sql`insert into ${audit} (at, actor, action, target, detail) ${row} where changes() > 0`);
}

/**
 * A change guarded by its own WHERE (the condition part of the write, never only of a read before it) and its
 * audit entry, the entry written only if the change touched a row, both atomically; true if it did. SQLite:
 * one batch, the entry's insert conditioned on `changes()`; PostgreSQL: a transaction that reads the change's
 * RETURNING. Build the change on the `tx` given.
 */
export async function changeAudited(
  db: HubDb,
  change: (tx: HubDb) => BatchItem<"sqlite">,
  actor: string,
  action: string,
  target?: string,
  detail?: Record<string, unknown>,
): Promise<boolean> {
  if (db.engine === "sqlite") {
    const [changed] = await atomically(
      db,
      (tx) => [change(tx), entryIfChanged(tx, actor, action, target, detail)],
    );
    return (changed as { rowsAffected: number }).rowsAffected > 0;
  }
  // deno-lint-ignore no-explicit-any
  return await (db as any).transaction(async (tx: HubDb) => {
    // deno-lint-ignore no-explicit-any
    const rows = await (change(tx) as any).returning();
    if (rows.length === 0) return false;
    await entry(tx, actor, action, target, detail);
    return true;
  });
}

/** How an export of the log itself is recorded (`audit.export`): the file of the console or API, or the CLI. */
export interface AuditExport {
  /** `csv` (the console's Download CSV, `audit.csv`, `admin audit --csv`), `json` or `table` (the CLI). */
  format: "csv" | "json" | "table";
  /** The filter, its times as ISO 8601 instants (`from`, `to`); only the fields given. */
  filter: AuditFilter;
  /** How many entries it gave. */
  entries: number;
  /** The CLI's `--limit`: a number, or `all`. */
  limit?: number | "all";
  /** The console's and API's file: whether the filter matched more than it holds. */
  truncated?: boolean;
  /** Set when the export failed before it gave every entry (a closed pipe, a database error). */
  failed?: true;
}

/**
 * The entry of an export of the audit log (`audit.export`, no target): who read it out, with which filter,
 * how many entries in what form. Written after the entries are read, so it is never among them; an export
 * whose entry cannot be written fails (the console's and API's file is then not given out).
 */
export function exportEntry(db: HubDb, actor: string, e: AuditExport) {
  const filter: Record<string, string> = {};
  for (const key of ["actor", "action", "target"] as const) {
    if (e.filter[key] !== undefined) filter[key] = e.filter[key];
  }
  for (const key of ["from", "to"] as const) {
    const v = e.filter[key];
    if (v !== undefined) filter[key] = new Date(instantOf(v, key)).toISOString();
  }
  const { format, entries, limit, truncated, failed } = e;
  return entry(db, actor, "audit.export", undefined, {
    format,
    filter,
    entries,
    ...(limit !== undefined ? { limit } : {}),
    ...(truncated !== undefined ? { truncated } : {}),
    ...(failed ? { failed } : {}),
  });
}

/** Which entries: every field given must match; none given, every entry. */
export interface AuditFilter {
  /** Who, exactly as stored: `user:alice`, `token:<name>`, `cli`, `hub`, `anonymous`. */
  actor?: string;
  /** What: an action (`site.add`), or a prefix of actions ending in a dot or a star (`site.`, `login*`). */
  action?: string;
  /** On what, exactly: a user or site name, a transfer or token id. */
  target?: string;
  /** From this instant on (inclusive): ISO 8601, or milliseconds since 1970. */
  from?: string | number;
  /** Before this instant (exclusive). */
  to?: string | number;
}

/** One entry as the API, the CLI and the CSV give it. */
export interface AuditEntry {
  id: number;
  at: string;
  actor: string;
  action: string;
  target: string | null;
  /** What the entry's action names (operations.md), or null; typed loosely as it always was for clients. */
  // deno-lint-ignore no-explicit-any
  detail: any;
}

export class AuditFilterError extends Error {
  override name = "AuditFilterError";
}

/** An ISO 8601 instant: a date (`2026-03-01`, midnight UTC) or a date and time with `Z` or an offset. */
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/** Milliseconds since 1970 of an instant given as ISO 8601 text or a number; throws AuditFilterError. */
export function instantOf(value: string | number, what = "instant"): number {
  if (typeof value === "number") {
    if (Number.isFinite(value)) return value;
  } else if (INSTANT.test(value)) {
    const ms = Date.parse(value);
    // Date.parse rolls a day past the month's end over (2026-02-30 is 2 March): such a date is refused.
    const [y, m, d] = value.slice(0, 10).split("-").map(Number);
    if (Number.isFinite(ms) && d >= 1 && d <= new Date(Date.UTC(y, m, 0)).getUTCDate()) return ms;
  }
  throw new AuditFilterError(
    `${what}: ${JSON.stringify(value)} is not an ISO 8601 instant (2026-03-01 or 2026-03-01T08:00:00Z)`,
  );
}

/** Whether an action filter is a prefix (`site.`, `site.*`, `login*`), and the prefix. */
function actionPrefix(action: string): string | undefined {
  if (action.endsWith("*")) return action.slice(0, -1);
  if (action.endsWith(".")) return action;
}

/**
 * The distinct actions in the log, walked one index step each (the log holds a few dozen kinds of entry
 * however long it is): what a prefix is matched against, whatever the database's collation.
 */
async function actions(db: HubDb): Promise<string[]> {
  const found: string[] = [];
  for (;;) {
    const last = found.at(-1);
    const [row] = await db.select({ next: min(audit.action) }).from(audit)
      .where(last === undefined ? undefined : gt(audit.action, last));
    if (row?.next === null || row?.next === undefined) return found;
    found.push(row.next);
  }
}

/** The WHERE of a filter; null when no entry can match (a prefix no action has). */
async function where(db: HubDb, filter: AuditFilter): Promise<SQL | undefined | null> {
  const terms: (SQL | undefined)[] = [];
  if (filter.actor !== undefined) terms.push(eq(audit.actor, filter.actor));
  if (filter.target !== undefined) terms.push(eq(audit.target, filter.target));
  if (filter.action !== undefined) {
    const prefix = actionPrefix(filter.action);
    if (prefix === undefined) terms.push(eq(audit.action, filter.action));
    else if (prefix !== "") {
      const matching = (await actions(db)).filter((a) => a.startsWith(prefix));
      if (!matching.length) return null;
      terms.push(matching.length === 1 ? eq(audit.action, matching[0]) : inArray(audit.action, matching));
    }
  }
  if (filter.from !== undefined) terms.push(gte(audit.at, instantOf(filter.from, "from")));
  if (filter.to !== undefined) terms.push(lt(audit.at, instantOf(filter.to, "to")));
  return and(...terms);
}

function view(r: typeof audit.$inferSelect): AuditEntry {
  return {
    id: r.id,
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    action: r.action,
    target: r.target,
    detail: r.detail ? JSON.parse(r.detail) : null,
  };
}

/** A page of the entries a filter matches, newest first (ties by id: the same order on every call). */
export async function recent(db: HubDb, limit = 200, offset = 0, filter: AuditFilter = {}) {
  const w = await where(db, filter);
  if (w === null) return [];
  const rows = await db.select().from(audit).where(w).orderBy(desc(audit.at), desc(audit.id))
    .limit(limit).offset(offset);
  return rows.map(view);
}

/**
 * Every entry a filter matches, newest first, in pages that each start where the last one ended (by at and
 * id, not by offset: the thousandth page costs what the first does); at most `max` of them.
 */
export async function* each(db: HubDb, filter: AuditFilter = {}, max = Infinity, page = 1000) {
  const w = await where(db, filter);
  if (w === null) return;
  let after: { at: number; id: number } | undefined;
  let given = 0;
  while (given < max) {
    const rows = await db.select().from(audit)
      .where(
        and(
          w,
          after ? or(lt(audit.at, after.at), and(eq(audit.at, after.at), lt(audit.id, after.id))) : undefined,
        ),
      )
      .orderBy(desc(audit.at), desc(audit.id)).limit(Math.min(page, max - given));
    for (const r of rows) yield view(r);
    given += rows.length;
    if (rows.length < page) return;
    const last = rows.at(-1)!;
    after = { at: last.at, id: last.id };
  }
}

/** The CSV columns, in order: one row per entry, its detail as JSON text. */
export const AUDIT_CSV_COLUMNS = ["id", "at", "actor", "action", "target", "detail"] as const;

/**
 * Entries as CSV (RFC 4180: fields quoted when they hold a comma, a quote or a line break; CRLF between
 * rows), with a header row. A field a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR
 * first: a failed login's user name is whatever was typed) is prefixed with a quote (').
 */
export function auditCsv(entries: AuditEntry[], header = true): string {
  const head = header ? AUDIT_CSV_COLUMNS.join(",") + "\r\n" : "";
  if (!entries.length) return head;
  return head + Papa.unparse(
    entries.map((e) => [
      String(e.id),
      e.at,
      e.actor,
      e.action,
      e.target ?? "",
      e.detail === null ? "" : JSON.stringify(e.detail),
    ]),
    { newline: "\r\n", escapeFormulae: FORMULA },
  ) + "\r\n";
}
