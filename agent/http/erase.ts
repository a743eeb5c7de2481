/**
 * Erasure on the loopback HTTP API: `POST /erase {study, series?, instance?}` takes a study, a series or an
 * instance out of the site for good (erase/erase.ts); `deno task agent erase` calls it.
 */
import { Hono } from "hono";
import { type Eraser, erasureTarget, NothingToEraseError } from "../erase/erase.ts";
import { CommitBlockedError } from "../ingest/group_commit.ts";

export function eraseRoutes(eraser: Eraser): Hono {
  const app = new Hono();
  app.post("/", async (c) => {
    const body = await c.req.json().catch(() => undefined);
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      return c.json({ error: "the body is a JSON object: {study, series?, instance?}" }, 400);
    }
    const target = erasureTarget(body);
    if (typeof target === "string") return c.json({ error: target }, 400);
    try {
      return c.json(await eraser.erase(target));
    } catch (err) {
      if (err instanceof NothingToEraseError) return c.json({ error: err.message }, 404);
      if (err instanceof CommitBlockedError) return c.json({ error: err.message }, 503);
      throw err;
    }
  });
  return app;
}
