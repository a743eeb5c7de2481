/**
 * The recorded conflicts (objects received again with other bytes) on the loopback HTTP API: one page,
 * newest first, and resolving one (`POST /conflicts/:id/resolve {keep}`). `deno task agent conflicts`
 * reads the same rows from the index itself, and resolves through this API.
 */
import { Hono } from "hono";
import {
  CONFLICTS_PAGE_MAX,
  type ConflictsPage,
  type ConflictsSource,
  listConflicts,
  sinceOf,
} from "../index/conflicts.ts";
import { ConflictResolveError, type ConflictResolver } from "../ingest/resolve.ts";
import { CommitBlockedError } from "../ingest/group_commit.ts";
import { pageLimit, pageOffset } from "./_paging.ts";

/**
 * `?limit=N&offset=N&before=ID&since=ISO&unresolved=true`: the query's page, or a sentence saying what is
 * wrong with it.
 */
export function conflictsPage(
  q: { limit?: string; offset?: string; before?: string; since?: string; unresolved?: string },
): ConflictsPage & { limit: number; offset: number } | string {
  const limit = pageLimit(q.limit, CONFLICTS_PAGE_MAX);
  if (typeof limit === "string") return limit;
  const offset = pageOffset(q.offset);
  if (typeof offset === "string") return offset;
  const page: ConflictsPage & { limit: number; offset: number } = { limit, offset };
  if (q.before !== undefined) {
    const before = /^[1-9][0-9]{0,15}$/.test(q.before) ? Number(q.before) : NaN;
    if (!Number.isSafeInteger(before)) {
      return `before is the id of a conflict (a page's last), not ${JSON.stringify(q.before)}`;
    }
    page.before = before;
  }
  if (q.unresolved !== undefined) {
    if (q.unresolved !== "true" && q.unresolved !== "false") {
      return `unresolved is true or false, not ${JSON.stringify(q.unresolved)}`;
    }
    if (q.unresolved === "true") page.unresolved = true;
  }
  if (q.since === undefined) return page;
  const since = sinceOf(q.since);
  if (since === undefined) {
    return `since is a date or time, ISO 8601 (2026-12-01 or 2026-12-01T08:00:00Z), not ${
      JSON.stringify(q.since)
    }`;
  }
  return { ...page, since };
}

export function conflictsRoutes(db: ConflictsSource, resolver?: ConflictResolver): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const page = conflictsPage(c.req.query());
    if (typeof page === "string") return c.json({ error: page }, 400);
    return c.json({ ...page, ...listConflicts(db, page) });
  });
  app.post("/:id/resolve", async (c) => {
    const id = /^[1-9][0-9]{0,15}$/.test(c.req.param("id")) ? Number(c.req.param("id")) : NaN;
    if (!Number.isSafeInteger(id)) return c.json({ error: "the id of a conflict is a number" }, 400);
    const body = await c.req.json().catch(() => undefined) as { keep?: unknown } | undefined;
    const keep = body?.keep;
    if (keep !== "stored" && keep !== "received") {
      return c.json({ error: 'the body is {"keep": "stored"} or {"keep": "received"}' }, 400);
    }
    if (!resolver) return c.json({ error: "this agent cannot resolve conflicts" }, 501);
    try {
      return c.json({ conflict: await resolver.resolve(id, keep) });
    } catch (err) {
      if (err instanceof ConflictResolveError) {
        return c.json({ error: err.message }, err.kind === "not-found" ? 404 : 409);
      }
      if (err instanceof CommitBlockedError) return c.json({ error: err.message }, 503);
      throw err;
    }
  });
  return app;
}
