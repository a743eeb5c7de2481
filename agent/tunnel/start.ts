/** Starts the tunnel client when the configuration names a hub and the agent is enrolled. */
import * as fs from "node:fs";
import type { Logger } from "@conduit/shared/log.ts";
import type { AgentConfig } from "../config/schema.ts";
import { loadCredential } from "./credential.ts";
import { TunnelClient } from "./client.ts";
import { serveRequest, type TunnelServices } from "./operations.ts";

export function startTunnel(
  config: AgentConfig,
  dataDir: string,
  services: Omit<TunnelServices, "log">,
  log: Logger,
): TunnelClient | undefined {
  if (!config.hub.url) return undefined;
  const stored = loadCredential(dataDir);
  if (!stored) {
    log.warn("a hub is configured but this agent is not enrolled; run once with --enroll TOKEN", {
      hub: config.hub.url,
    });
    return undefined;
  }
  if (config.site && config.site !== stored.site) {
    throw new Error(
      `the configured site ${config.site} is not the enrolled site ${stored.site}; enroll again`,
    );
  }
  const caCerts = config.hub.caFile ? [fs.readFileSync(config.hub.caFile, "utf8")] : undefined;
  const tunnelLog = log.child({ part: "tunnel" });
  const client = new TunnelClient({
    url: config.hub.url,
    site: stored.site,
    credential: stored.credential,
    agentVersion: services.agentVersion,
    caCerts,
    backoffBaseMs: config.hub.reconnectBaseSeconds * 1000,
    backoffCapMs: config.hub.reconnectCapSeconds * 1000,
    log: tunnelLog,
    serve: (request, channel) => serveRequest({ ...services, log: tunnelLog }, request, channel),
  });
  client.start();
  return client;
}
