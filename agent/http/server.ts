/** The agent's loopback HTTP API: health, metrics, and the node, queue, conflicts and erase routes mounted on it. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { type Logger, redactUids } from "@conduit/shared/log";
import { browserGuard } from "./browser_guard.ts";

/**
 * The largest request body the API reads (a list of some 60,000 UIDs to store): every body is read whole
 * into memory, and a bigger one (a runaway script) would take the agent's memory with it.
 */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface HttpDeps {
  version: string;
  startedAt: number;
  archiveSize: () => Promise<number>;
  databaseOk: () => Promise<boolean>;
  /** Free bytes of the data directory's file system (Infinity when it cannot be read). */
  freeBytes?: () => number;
  /** The free-space floor (`archive.minFreeMegabytes`) in bytes; 0 turns the check off. */
  minFreeBytes?: number;
  /** The link to the hub: undefined without `hub.url`, "not enrolled" with it and no credential. */
  hub?: () => string | undefined;
  /** Why the last attempt to reach the hub failed, while the link is not online (no PHI: hosts, TLS, refusals). */
  hubError?: () => string | undefined;
  metrics: () => Promise<string>;
  contentType: string;
  /** Mounted at /nodes. */
  nodes?: Hono;
  /** Mounted at /queue. */
  queue?: Hono;
  /** Mounted at /conflicts. */
  conflicts?: Hono;
  /** Mounted at /erase. */
  erase?: Hono;
  /** Where a request that fails (500) is logged, UIDs hashed. */
  log?: Logger;
  /** `http.host`, the address the API listens on (default 127.0.0.1): a name the Host header may carry. */
  listenHost?: string;
}

export function httpApp(deps: HttpDeps): Hono {
  const app = new Hono();
  // Before anything reads a body: a web page's request is refused with nothing done (./browser_guard.ts).
  app.use(browserGuard(deps.listenHost ?? "127.0.0.1"));
  app.use(bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: (c) =>
      c.json({ error: `the body is larger than ${MAX_BODY_BYTES} bytes: nothing was done` }, 413),
  }));
  app.get("/healthz", async (c) => {
    // A database that cannot be read fails the archive's sum too: that is its error, not a 500.
    const [archiveBytes, databaseOk] = await Promise.all([
      deps.archiveSize().catch(() => null),
      deps.databaseOk().catch(() => false),
    ]);
    const dbOk = databaseOk && archiveBytes !== null;
    const free = deps.freeBytes?.() ?? Number.POSITIVE_INFINITY;
    // Below the floor every C-STORE is refused (0xA700): the agent cannot take objects, as without a database.
    const diskOk = !deps.minFreeBytes || free >= deps.minFreeBytes;
    const hub = deps.hub?.();
    const hubError = hub === undefined || hub === "online" ? undefined : deps.hubError?.();
    const ready = dbOk && diskOk;
    return c.json({
      status: ready && (hub === undefined || hub === "online") ? "ok" : "degraded",
      version: deps.version,
      uptimeSeconds: Math.round((Date.now() - deps.startedAt) / 1000),
      archiveBytes,
      database: dbOk ? "ok" : "error",
      disk: diskOk ? "ok" : "below minimum",
      freeMegabytes: Number.isFinite(free) ? Math.floor(free / 1048576) : null,
      ...(hub === undefined ? {} : { hub }),
      ...(hubError ? { hubError } : {}),
    }, ready ? 200 : 503);
  });
  app.get("/metrics", async (c) => {
    return c.body(await deps.metrics(), 200, { "content-type": deps.contentType });
  });
  if (deps.nodes) app.route("/nodes", deps.nodes);
  if (deps.queue) app.route("/queue", deps.queue);
  if (deps.conflicts) app.route("/conflicts", deps.conflicts);
  if (deps.erase) app.route("/erase", deps.erase);
  app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));
  app.onError((err, c) => {
    deps.log?.error("HTTP API request failed", { method: c.req.method, path: c.req.path, err });
    // The answer is as careful as the log line: the error's message (a file path built from UIDs, say)
    // and the request's path have their UIDs hashed as the log's are, so the two can still be matched.
    const message = redactUids(
      `${err.message} (UIDs hashed; the agent's log has the line 'HTTP API request failed' ` +
        `for ${c.req.method} ${c.req.path})`,
    );
    return c.json({ error: "internal error", message }, 500);
  });
  return app;
}
