/** The agent's loopback HTTP API: health, metrics, and the node and queue routes mounted on it. */
import { Hono } from "hono";

export interface HttpDeps {
  version: string;
  startedAt: number;
  archiveSize: () => Promise<number>;
  databaseOk: () => Promise<boolean>;
  metrics: () => Promise<string>;
  contentType: string;
  /** Mounted at /nodes. */
  nodes?: Hono;
  /** Mounted at /queue. */
  queue?: Hono;
}

export function httpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  app.get("/healthz", async (c) => {
    const [archiveBytes, databaseOk] = await Promise.all([deps.archiveSize(), deps.databaseOk()]);
    return c.json({
      status: databaseOk ? "ok" : "degraded",
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      archiveBytes,
      database: databaseOk ? "ok" : "error",
    }, databaseOk ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    return c.body(await deps.metrics(), 200, { "content-type": deps.contentType });
  });
  if (deps.nodes) app.route("/nodes", deps.nodes);
  if (deps.queue) app.route("/queue", deps.queue);
  app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));
  app.onError((err, c) => c.json({ error: "internal error", message: err.message }, 500));
  return app;
}
