/**
 * The agent's loopback HTTP API mounted over the backends that answer it: health and metrics, and the
 * routes of nodes, the queue, conflicts and erasure (each in agent/http/, over the object it is given).
 * The agent listens with it (app.ts).
 */
import type { Logger } from "@conduit/shared/log";
import type { AgentConfig } from "./config/schema.ts";
import type { Archive } from "./archive/archive.ts";
import { diskSpace } from "./archive/disk_space.ts";
import type { Database } from "./index/db.ts";
import { archiveTotals } from "./index/totals.ts";
import type { Ingest } from "./ingest/ingest.ts";
import type { ConflictResolver } from "./ingest/resolve.ts";
import type { Queue } from "./queue/queue.ts";
import type { Forwarder } from "./forward/forwarder.ts";
import type { NodeOperations } from "./nodes/operations.ts";
import type { Eraser } from "./erase/erase.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { TunnelClient } from "./tunnel/client.ts";
import { httpApp } from "./http/server.ts";
import { nodeRoutes } from "./http/nodes.ts";
import { queueRoutes } from "./http/queue.ts";
import { conflictsRoutes } from "./http/conflicts.ts";
import { eraseRoutes } from "./http/erase.ts";
import { VERSION } from "./version.ts";

/** The backends behind the HTTP API. */
export interface HttpBackends {
  config: AgentConfig;
  dataDir: string;
  db: Database;
  archive: Archive;
  ingest: Ingest;
  metrics: AgentMetrics;
  nodeOps: NodeOperations;
  queue: Queue;
  forwarder: Forwarder;
  resolver: ConflictResolver;
  eraser: Eraser;
  /** The link to the hub, once started. */
  tunnel: () => TunnelClient | undefined;
  log: Logger;
}

/** The HTTP API over its backends (`app.fetch` for `Deno.serve`); sets the metrics' health and disk sources. */
export function mountHttp(
  { config, dataDir, db, archive, ingest, metrics, nodeOps, queue, forwarder, resolver, eraser, tunnel, log }:
    HttpBackends,
): ReturnType<typeof httpApp> {
  // Commits that keep failing (a full disk, an index that cannot be written) refuse every C-STORE.
  const databaseOk = async () => !ingest.group?.blocked && await db.healthy();
  const minFreeBytes = config.archive.minFreeMegabytes * 1024 * 1024;
  metrics.diskSource = () => diskSpace(dataDir);
  metrics.diskFloorBytes = minFreeBytes;
  metrics.healthSource = async () => ({
    database: await databaseOk().catch(() => false),
    disk: !minFreeBytes || archive.freeBytes() >= minFreeBytes,
    ...(config.hub.url ? { hub: tunnel()?.state === "online" } : {}),
  });
  return httpApp({
    version: VERSION,
    startedAt: Date.now(),
    archiveSize: async () => (await archiveTotals(db)).bytes,
    databaseOk,
    freeBytes: () => archive.freeBytes(),
    minFreeBytes,
    hub: () => config.hub.url ? tunnel()?.state ?? "not enrolled" : undefined,
    hubError: () => tunnel()?.lastError,
    metrics: () => metrics.text(),
    contentType: metrics.registry.contentType,
    nodes: nodeRoutes(nodeOps),
    queue: queueRoutes(queue, forwarder),
    conflicts: conflictsRoutes(db, resolver),
    erase: eraseRoutes(eraser),
    log: log.child({ part: "http" }),
    listenHost: config.http.host,
  });
}
