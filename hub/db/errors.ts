/**
 * Which failures of a query mean the hub's database is away (PostgreSQL restarted, stopped, failing over,
 * its connections terminated; the libsql file locked or not writable) rather than a fault of the request or
 * of the hub: those are answered 503 / SERVICE_UNAVAILABLE with one sentence, and logged without the
 * query (drizzle's "Failed query: ... params: ..." carries what was asked, UIDs and names included).
 */
import { withoutQueryParams } from "@conduit/shared/log";

/** The sentence a client gets while PostgreSQL is away (never the query, a URL or a file path). */
export const DATABASE_AWAY = "the hub cannot reach its database; try again once it is back " +
  "(the hub's /healthz answers 200 again then)";

/** The sentence a client gets while the hub's libsql file cannot be written (its reads still work). */
export const DATABASE_UNWRITABLE = "the hub cannot write its database now; try again once it can " +
  "(the hub's /healthz answers 200 again then)";

/** How long a client is told to wait before asking again (`Retry-After`, seconds). */
export const DATABASE_RETRY_AFTER_S = 5;

/** postgres.js's own codes for a connection that failed or ended, and the socket's. */
const CONNECTION_CODES = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "CONNECT_TIMEOUT",
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EAI_AGAIN",
]);

/** The errors a query failed with, outermost first (drizzle wraps the driver's in `cause`). */
function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err; e && out.length < 6; e = (e as { cause?: unknown }).cause) out.push(e);
  return out;
}

/** The driver's error behind a query that failed because the database is away, or undefined. */
export function databaseAwayCause(err: unknown): Error | undefined {
  for (const e of chain(err)) {
    if (!(e instanceof Error)) continue;
    const code = String((e as { code?: unknown }).code ?? "");
    // PostgreSQL's own answers: shutting down, restarting, not yet accepting (57P01-57P03), connection (08).
    if (e.name === "PostgresError" && /^(57P0[123]|08)/.test(code)) return e;
    if (CONNECTION_CODES.has(code)) return e;
    // libsql: the file locked past the busy timeout, read-only (chattr, a full or remounted disk), I/O.
    if (/^SQLITE_(BUSY|LOCKED|READONLY|IOERR|CANTOPEN|FULL)/.test(code)) return e;
  }
  return undefined;
}

/**
 * Whether a write failed on a primary key or unique index (libsql `SQLITE_CONSTRAINT_PRIMARYKEY` /
 * `_UNIQUE`, PostgreSQL 23505): two requests added the same name at once, the check before the insert
 * passing for both.
 */
export function isUniqueViolation(err: unknown): boolean {
  return chain(err).some((e) => {
    const code = String((e as { code?: unknown } | null)?.code ?? "");
    return code === "23505" || /^SQLITE_CONSTRAINT_(PRIMARYKEY|UNIQUE)/.test(code);
  });
}

/** Whether `err` says the database is away (see databaseAwayCause). */
export function isDatabaseAway(err: unknown): boolean {
  return databaseAwayCause(err) !== undefined;
}

/** The sentence for a client of a failure isDatabaseAway() accepts: the file's, or PostgreSQL's. */
export function databaseAwayMessage(err: unknown): string {
  const code = String((databaseAwayCause(err) as { code?: unknown } | undefined)?.code ?? "");
  return code.startsWith("SQLITE_") ? DATABASE_UNWRITABLE : DATABASE_AWAY;
}

/** What a log line says of a database-away failure: the driver's code and message, never the query. */
export function databaseAwayReason(err: unknown): string {
  const cause = databaseAwayCause(err);
  if (!cause) return "unknown";
  const code = (cause as { code?: unknown }).code;
  return `${code ? `${code}: ` : ""}${cause.message}`.slice(0, 200);
}

/**
 * What a log line says of a failed database call: the driver's reason when the database is away, else the
 * error's message without drizzle's `params:` (the values of the query: UIDs, names, lists).
 */
export function dbFailureReason(err: unknown): string {
  if (isDatabaseAway(err)) return databaseAwayReason(err);
  return withoutQueryParams(err instanceof Error ? err.message : String(err));
}
