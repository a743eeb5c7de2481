/**
 * The link to the hub, when one is configured: the tunnel, and what the site serves the hub through it
 * (agent/serve/), over the agent's backends. Both are loaded only then, rendering with them.
 */
import * as path from "node:path";
import type { Logger } from "@conduit/shared/log";
import type { AgentConfig } from "./config/schema.ts";
import type { Archive } from "./archive/archive.ts";
import type { Database } from "./index/db.ts";
import type { Ingest } from "./ingest/ingest.ts";
import type { ConflictResolver } from "./ingest/resolve.ts";
import type { Queue } from "./queue/queue.ts";
import type { Copies } from "./queue/copies.ts";
import type { Forwarder } from "./forward/forwarder.ts";
import type { NodeOperations } from "./nodes/operations.ts";
import type { Eraser } from "./erase/erase.ts";
import type { QueryHandler } from "./dimse/handlers.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { SiteServices } from "./serve/serve.ts";
import type { Renderer } from "./render/mod.ts";
import type { TunnelClient } from "./tunnel/client.ts";
import { BUILD_TEXT } from "./version.ts";
import { loadPart } from "./lazy_part.ts";

/** The backends the hub reaches through the tunnel. */
export interface HubLinkBackends {
  config: AgentConfig;
  dataDir: string;
  db: Database;
  archive: Archive;
  archiveQuery: QueryHandler;
  nodeOps: NodeOperations;
  queue: Queue;
  ingest: Ingest;
  forwarder: Forwarder;
  copies: Copies;
  /** The site's de-identification key, if configured. */
  key: Uint8Array | undefined;
  eraser: Eraser;
  resolver: ConflictResolver;
  metrics: AgentMetrics;
  log: Logger;
}

/** Starts the tunnel to the hub (`hub.url`); undefined when no hub is configured. */
export async function startHubLink(
  {
    config,
    dataDir,
    db,
    archive,
    archiveQuery,
    nodeOps,
    queue,
    ingest,
    forwarder,
    copies,
    key,
    eraser,
    resolver,
    metrics,
    log,
  }: HubLinkBackends,
): Promise<TunnelClient | undefined> {
  if (!config.hub.url) return undefined;
  const tunnelLog = log.child({ part: "tunnel" });
  const [{ startTunnel }, { serveRequest }] = await Promise.all([
    loadPart("tunnel/start"),
    loadPart("serve/serve"),
  ]);
  const site: SiteServices = {
    nodes: nodeOps,
    archive: archiveQuery,
    queue,
    ingest,
    db,
    files: archive,
    aet: config.dimse.aet,
    // The nodes in force (a reload changes them).
    get nodeNames() {
      return new Set(Object.keys(config.nodes));
    },
    acceptAnySopClass: config.dimse.acceptAnySopClass,
    forwarder,
    agentVersion: BUILD_TEXT,
    deid: { copies, hasKey: key !== undefined },
    eraser,
    conflicts: resolver,
    // Rendering serves only the hub's requests: it is loaded with the tunnel.
    render: await startRenderer(config, dataDir, log, metrics),
    credential: {
      replace: async (credential) => {
        const { replaceCredential } = await loadPart("tunnel/credential");
        replaceCredential(dataDir, credential);
        tunnel?.setCredential(credential);
      },
    },
    log: tunnelLog,
  };
  const tunnel = startTunnel(config, dataDir, {
    agentVersion: BUILD_TEXT,
    serve: (request, channel) => serveRequest(site, request, channel),
  }, tunnelLog);
  return tunnel;
}

/** The renderer and its thumbnail cache (`render.thumbnailCacheMegabytes`), counted in the metrics. */
async function startRenderer(
  config: AgentConfig,
  dataDir: string,
  log: Logger,
  metrics: AgentMetrics,
): Promise<Renderer> {
  const { Renderer, ThumbnailCache } = await loadPart("render/mod");
  const thumbnails = config.render.thumbnailCacheMegabytes > 0
    ? await ThumbnailCache.open(
      path.join(dataDir, "thumbnails"),
      Math.round(config.render.thumbnailCacheMegabytes * 1024 * 1024),
    )
    : undefined;
  const renderer = new Renderer(thumbnails, log.child({ part: "render" }), metrics.onRenderEvent);
  metrics.thumbnailBytesSource = () => renderer.cachedBytes;
  return renderer;
}
