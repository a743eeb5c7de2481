/** The forward queue on the loopback HTTP API (and, through it, `deno task agent queue ...`). */
import { Hono } from "hono";
import { z } from "zod";
import type { Queue } from "../queue/queue.ts";
import { QUEUE_STATES } from "../queue/rows.ts";
import type { Forwarder } from "../forward/forwarder.ts";
import { pageLimit } from "./_paging.ts";

/** The most rows one `GET /queue` lists. */
const QUEUE_PAGE_MAX = 10_000;

const filter = z.object({
  destination: z.string().optional(),
  ids: z.array(z.number().int()).optional(),
  /** Say so to act on every row of the state. */
  all: z.boolean().optional(),
}).strict().refine((f) => f.destination || f.ids?.length || f.all, "give destination, ids, or all: true");

/** Dead rows to discard: narrowed by destination, ids and age (dead for longer than so many seconds), or all. */
const discardFilter = z.object({
  destination: z.string().optional(),
  ids: z.array(z.number().int()).optional(),
  olderThanSeconds: z.number().positive().optional(),
  all: z.boolean().optional(),
}).strict().refine(
  (f) => f.destination || f.ids?.length || f.olderThanSeconds !== undefined || f.all,
  "give destination, ids, olderThanSeconds, or all: true",
);

export function queueRoutes(queue: Queue, forwarder: Forwarder): Hono {
  const app = new Hono();
  app.onError((err, c) => {
    if (err instanceof z.ZodError) return c.json({ error: "bad request", issues: err.issues }, 400);
    return c.json({ error: err.message }, 500);
  });
  app.get("/", (c) => {
    const state = c.req.query("state");
    if (state && !(QUEUE_STATES as readonly string[]).includes(state)) {
      return c.json({
        error: `state must be one of ${QUEUE_STATES.join(", ")}, not ${JSON.stringify(state)}`,
      }, 400);
    }
    const limit = pageLimit(c.req.query("limit"), QUEUE_PAGE_MAX);
    if (typeof limit === "string") return c.json({ error: limit }, 400);
    return c.json(queue.list({ state: state as never, destination: c.req.query("destination"), limit }));
  });
  app.get("/summary", (c) =>
    c.json({
      rows: queue.summary(),
      // configured: false for a node removed from the configuration, whose rows wait for it to come back.
      destinations: forwarder.knownDestinations().map((d) => ({
        name: d,
        paused: queue.isPaused(d),
        configured: forwarder.configured(d),
      })),
    }));
  /**
   * A destination neither configured nor named by any row: a misspelt name, said so (404) rather than
   * answered with a count of 0 that reads as "nothing to do".
   */
  const unknownDestination = (destination: string | undefined): string | undefined => {
    if (destination === undefined || forwarder.knownDestinations().includes(destination)) return undefined;
    const named = new Set(queue.summary().map((r) => r.destination));
    if (named.has(destination)) return undefined;
    const all = [...new Set([...forwarder.knownDestinations(), ...named])].sort();
    return `no destination named ${JSON.stringify(destination)} (${all.length ? all.join(", ") : "none"})`;
  };
  for (
    const [path, key, act] of [
      ["/retry", "retried", queue.retry],
      ["/replay", "replayed", queue.replay],
      ["/abandon", "abandoned", queue.abandon],
    ] as const
  ) {
    app.post(path, async (c) => {
      const selection = filter.parse(await c.req.json().catch(() => ({})));
      const unknown = unknownDestination(selection.destination);
      if (unknown) return c.json({ error: unknown }, 404);
      const n = act.call(queue, selection);
      forwarder.wake();
      return c.json({ [key]: n });
    });
  }
  // Dead rows deleted for good (replay is then impossible; retention may then remove their objects).
  app.post("/discard", async (c) => {
    const { olderThanSeconds, ...f } = discardFilter.parse(await c.req.json().catch(() => ({})));
    const unknown = unknownDestination(f.destination);
    if (unknown) return c.json({ error: unknown }, 404);
    const deadBefore = olderThanSeconds === undefined ? undefined : Date.now() - olderThanSeconds * 1000;
    return c.json({ discarded: queue.discardDead({ ...f, deadBefore }) });
  });
  const known = (name: string) => forwarder.knownDestinations().includes(name);
  app.post("/pause/:destination", (c) => {
    if (!known(c.req.param("destination"))) {
      return c.json({ error: "no route sends to that destination" }, 404);
    }
    queue.setPaused(c.req.param("destination"), true);
    return c.json({ destination: c.req.param("destination"), paused: true });
  });
  app.post("/resume/:destination", (c) => {
    if (!known(c.req.param("destination"))) {
      return c.json({ error: "no route sends to that destination" }, 404);
    }
    queue.setPaused(c.req.param("destination"), false);
    forwarder.wake(c.req.param("destination"));
    return c.json({ destination: c.req.param("destination"), paused: false });
  });
  return app;
}
