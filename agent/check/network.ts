/**
 * `agent check`, the checks over the network (left out with `--no-network`): a C-ECHO to each configured
 * node, and each hub of `hub.url` reached as the agent reaches it (TCP, TLS with `hub.caFile` and the client
 * certificate). The hub is asked for `/healthz`, and the site credential is shown to `/tunnel` without a
 * WebSocket upgrade: the hub checks a credential before the upgrade and answers 426 to a good one, so no
 * session is opened and a running agent's tunnel is not replaced (the hub keeps one session per site, the
 * newest).
 */
import * as path from "node:path";
import type { AgentConfig } from "../config/schema.ts";
import { type HubTls, hubTls } from "../config/tls_files.ts";
import { echoNode } from "../nodes/connect.ts";
import { hubUrls } from "../tunnel/hub_urls.ts";
import { loadCredential } from "../tunnel/credential.ts";
import { tlsHint } from "../tunnel/tls_hint.ts";
import { envNamesProxy, processEnv, proxyFor, proxyName, type ProxySetting } from "../tunnel/proxy.ts";
import { hubRequest } from "../tunnel/proxy_post.ts";
import { connectThroughProxy } from "../tunnel/proxy_connect.ts";
import type { Check } from "./local.ts";

/** C-ECHO to each configured node, all at once, each within `timeoutMs`. */
export async function echoChecks(config: AgentConfig, timeoutMs: number): Promise<Check[]> {
  return await Promise.all(
    Object.entries(config.nodes).map(async ([name, node]): Promise<Check> => {
      const what = `node ${name}`;
      const peer = `${node.aet}@${node.host}:${node.port}${node.tls ? " (TLS)" : ""}`;
      try {
        const { status, ms } = await echoNode(config, node, timeoutMs);
        return status === 0 ? { status: "ok", what, detail: `C-ECHO ${peer}: success in ${ms} ms` } : {
          status: "fail",
          what,
          detail: `C-ECHO ${peer}: status 0x${status.toString(16).padStart(4, "0").toUpperCase()}`,
        };
      } catch (err) {
        // The reason names the address already when it is about the connection.
        const message = (err as Error).message;
        const said = message.includes(`${node.host}:${node.port}`) ? "C-ECHO" : `C-ECHO ${peer}`;
        return { status: "fail", what, detail: `${said}: ${message}` };
      }
    }),
  );
}

/** The words of a failed fetch, with its causes (Deno's "fetch failed" says why only there). */
function fetchError(err: unknown): string {
  let message = (err as Error).message;
  for (let c = (err as Error).cause; c instanceof Error; c = c.cause) message += `: ${c.message}`;
  return message;
}

/** The HTTP address of a tunnel URL (wss://h/tunnel -> https://h/tunnel), and its hub's base (https://h). */
function httpUrls(tunnelUrl: string): { tunnel: string; base: string } {
  const u = new URL(tunnelUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : u.protocol === "ws:" ? "http:" : u.protocol;
  const tunnel = u.toString().replace(/\/$/, "");
  // The hub's own paths are beside /tunnel (behind a proxy, under the same prefix).
  return { tunnel, base: tunnel.replace(/\/[^/]*$/, "") };
}

/**
 * Each hub of `hub.url`: reached (TCP and TLS as the agent's tunnel makes them), `/healthz` in service, and
 * the site credential taken. A hub that answers `/tunnel` without saying (one older than 2026-12-04) is a
 * warning.
 */
export async function hubChecks(config: AgentConfig, timeoutMs: number): Promise<Check[]> {
  const urls = hubUrls(config.hub.url);
  if (!urls.length) return [];
  // One client per hub reached straight; a hub behind a proxy, or an agent whose environment names one, is
  // reached over the tunnel's own connection (Deno's fetch would apply the environment's proxy by rules of its own).
  const clients = new Map<string, Deno.HttpClient | undefined>();
  const proxies = new Map<string, ProxySetting | undefined>();
  const env = processEnv();
  let tls: HubTls = {};
  try {
    tls = hubTls(config);
    for (const url of urls) {
      const proxy = proxyFor(url, config.hub.proxy, env);
      proxies.set(url, proxy);
      clients.set(
        url,
        (tls.caCerts || tls.cert) && !proxy && !envNamesProxy(env)
          ? Deno.createHttpClient({
            ...(tls.caCerts ? { caCerts: tls.caCerts } : {}),
            ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
          })
          : undefined,
      );
    }
  } catch (err) {
    for (const c of clients.values()) c?.close();
    return urls.map((u) => ({ status: "fail", what: `hub ${u}`, detail: (err as Error).message }));
  }
  let credential: string | undefined;
  try {
    credential = loadCredential(path.resolve(config.data))?.credential;
  } catch { /* reported by the local check */ }
  const hasCert = Boolean(config.hub.clientCertFile);
  try {
    return await Promise.all(urls.map(async (url): Promise<Check> => {
      const what = `hub ${url}`;
      const { tunnel, base } = httpUrls(url);
      const secure = tunnel.startsWith("https:");
      const client = clients.get(url);
      const proxy = proxies.get(url);
      const get = async (u: string, headers: Record<string, string> = {}) => {
        if (!proxy && !envNamesProxy(env)) {
          return await fetch(u, { headers, client, signal: AbortSignal.timeout(timeoutMs) } as RequestInit);
        }
        const r = await hubRequest("GET", u, headers, tls, proxy, timeoutMs);
        return new Response(r.body, {
          status: r.status,
          headers: r.contentType ? { "content-type": r.contentType } : {},
        });
      };
      const parts: string[] = [secure ? "reached over TLS" : "reached (ws://, no TLS)"];
      if (proxy) {
        // The way through the proxy first, as the tunnel opens it: the fetch below would say only
        // "unsuccessful tunnel" for a proxy's refusal, and blame the hub for a proxy that is not there.
        const u = new URL(tunnel);
        const port = u.port ? Number(u.port) : secure ? 443 : 80;
        try {
          const socket = await connectThroughProxy(proxy, u.hostname.replace(/^\[(.*)\]$/, "$1"), port, {
            tls: secure ? tls : undefined,
            timeoutMs,
          });
          socket.destroy();
        } catch (err) {
          return { status: "fail", what, detail: (err as Error).message };
        }
        parts.push(`through the proxy ${proxyName(proxy)} (${proxy.source})`);
      }
      let warned = false;
      try {
        const health = await get(`${base}/healthz`);
        const body = await health.json().catch(() => undefined) as
          | { status?: string; version?: string; problem?: string }
          | undefined;
        if (health.ok && body?.version) parts.push(`hub ${body.version}`);
        else if (health.status === 503) {
          parts.push(`out of service: ${body?.problem ?? body?.status ?? "503"}`);
          warned = true;
        } else {
          parts.push(`no hub health at ${base}/healthz (HTTP ${health.status})`);
          warned = true;
        }
      } catch (err) {
        const message = fetchError(err);
        const hint = tlsHint(message, hasCert) ||
          (/refused|dns error|lookup|unreachable|timed? ?out|reset|abort/i.test(message)
            ? " (is the hub running, and does this machine reach it at that address? check --hub or hub.url)"
            : "");
        return { status: "fail", what, detail: `cannot reach ${base}/healthz: ${message}${hint}` };
      }
      // The tunnel itself, with the credential when there is one: a hub checks it before the upgrade.
      try {
        const res = await get(tunnel, credential ? { authorization: `Bearer ${credential}` } : {});
        const body = await res.json().catch(() => undefined) as
          | { accepted?: boolean; message?: string }
          | undefined;
        const refused = res.status === 401 && body?.accepted === false;
        if (res.status === 404 || /text\/html/.test(res.headers.get("content-type") ?? "")) {
          // A hub answers what it does not serve with its console's page (404 under its API paths).
          const said = res.status === 404 ? "not found" : "a web page";
          return {
            status: "fail",
            what,
            detail: `${parts.join(", ")}; no tunnel at ${tunnel} (HTTP ${res.status}, ${said}): ` +
              "check hub.url (wss://HUB/tunnel)",
          };
        } else if (credential && res.status === 426) {
          parts.push("the site credential is accepted (no session opened)");
        } else if (credential && refused) {
          return {
            status: "fail",
            what,
            detail: `${parts.join(", ")}; the hub refuses the site credential` +
              `${body?.message ? ` (${body.message})` : ""}: revoked? enroll again with a new token`,
          };
        } else if (!credential && refused) {
          parts.push("its tunnel asks for a site credential, which this data directory has not got yet");
        } else {
          parts.push(
            `the tunnel did not say whether it takes ${
              credential ? "the site credential" : "agents"
            } (HTTP ${res.status}: a hub older than this agent, or not a Conduit hub?)`,
          );
          warned = true;
        }
      } catch (err) {
        return { status: "fail", what, detail: `${parts.join(", ")}; ${tunnel}: ${fetchError(err)}` };
      }
      return { status: warned ? "warn" : "ok", what, detail: parts.join(", ") };
    }));
  } finally {
    for (const c of clients.values()) c?.close();
  }
}
