/** Starts the tunnel client when the configuration names a hub and the agent is enrolled. */
import type { Logger } from "@conduit/shared/log";
import type { AgentConfig } from "../config/schema.ts";
import { hubTls } from "../config/tls_files.ts";
import { loadCredential } from "./credential.ts";
import { TunnelClient, type TunnelClientOptions } from "./client.ts";
import { hubUrls } from "./hub_urls.ts";
import { processEnv, proxyFor, proxyName } from "./proxy.ts";

/**
 * The link to the hub, or undefined when no hub is configured or the agent is not enrolled (logged).
 * `serve` answers the requests the hub sends (agent/serve); `log` is the tunnel's logger.
 */
export function startTunnel(
  config: AgentConfig,
  dataDir: string,
  link: { agentVersion: string; serve: TunnelClientOptions["serve"] },
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
  const tls = hubTls(config);
  // Checked here, at start: a proxy variable that is not a URL stops the agent, naming it.
  const env = processEnv();
  const proxies = new Map(hubUrls(config.hub.url).map((url) => [url, proxyFor(url, config.hub.proxy, env)]));
  for (const [url, proxy] of proxies) {
    if (!proxy) continue;
    // Host and port only: the proxy's password is never logged.
    log.info("the hub is reached through an HTTP proxy", {
      proxy: proxyName(proxy),
      from: proxy.source,
      ...(proxies.size > 1 ? { hub: url } : {}),
    });
  }
  const client = new TunnelClient({
    url: config.hub.url,
    site: stored.site,
    credential: stored.credential,
    agentVersion: link.agentVersion,
    tls,
    proxy: (url) => proxies.get(url),
    backoffBaseMs: config.hub.reconnectBaseSeconds * 1000,
    backoffCapMs: config.hub.reconnectCapSeconds * 1000,
    connectTimeoutMs: config.hub.connectTimeoutSeconds * 1000,
    log,
    serve: link.serve,
  });
  client.start();
  return client;
}
