/**
 * The recorded conflicts (objects received again with other bytes) on the loopback HTTP API: one page,
 * newest first. `deno task agent conflicts` reads the same rows from the index itself.
 */
import { Hono } from "hono";
import { CONFLICTS_PAGE_MAX, type ConflictsSource, listConflicts, sinceOf } from "../index/conflicts.ts";

/** `?limit=N&offset=N&since=ISO`: the query's page, or a sentence saying what is wrong with it. */
export function conflictsPage(
  q: { limit?: string; offset?: string; since?: string },
): { limit: number; offset: number; since?: number } | string {
  const limit = q.limit === undefined ? 100 : Number(q.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > CONFLICTS_PAGE_MAX) {
    return `limit is a number of rows from 1 to ${CONFLICTS_PAGE_MAX}, not ${JSON.stringify(q.limit)}`;
  }
  const offset = q.offset === undefined ? 0 : Number(q.offset);
  if (!Number.isInteger(offset) || offset < 0) {
    return `offset is a number of rows to skip (0 or more), not ${JSON.stringify(q.offset)}`;
  }
  if (q.since === undefined) return { limit, offset };
  const since = sinceOf(q.since);
  if (since === undefined) {
    return `since is a date or time, ISO 8601 (2026-12-01 or 2026-12-01T08:00:00Z), not ${
      JSON.stringify(q.since)
    }`;
  }
  return { limit, offset, since };
}

export function conflictsRoutes(db: ConflictsSource): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const page = conflictsPage(c.req.query());
    if (typeof page === "string") return c.json({ error: page }, 400);
    return c.json({ ...page, ...listConflicts(db, page) });
  });
  return app;
}
