/**
 * Which outbound HTTP proxy the agent's connections to the hub (enrollment, the tunnel, `agent check`) go
 * through: `hub.proxy` when set, else the usual variables (`https_proxy`/`HTTPS_PROXY` for a wss:// hub,
 * `http_proxy`/`HTTP_PROXY` for a ws:// one), unless `NO_PROXY`/`no_proxy` names the hub's host. Pure: the
 * wire (CONNECT, then TLS to the hub) is in ./proxy_connect.ts. The proxy's password never leaves here but
 * in the Proxy-Authorization header: what is logged names the proxy as `host:port`.
 */

/** A proxy to reach the hub through. */
export interface ProxySetting {
  host: string;
  port: number;
  /** Basic credentials, decoded from the URL's user information. */
  auth?: { user: string; password: string };
  /** Where it came from, for errors: `hub.proxy` or the variable's name. */
  source: string;
}

/** The proxy as logs and errors name it: host and port, never the credentials. */
export const proxyName = (p: ProxySetting) => `${p.host.includes(":") ? `[${p.host}]` : p.host}:${p.port}`;

/** The form a proxy URL takes, for errors. */
const FORM = "http://[user:password@]host:port";

/** Why `value` is not a proxy URL (http://[user:password@]host:port), or undefined when it is. Never echoes a password. */
export function proxyUrlProblem(value: string): string | undefined {
  const parsed = parseProxyUrl(value, "hub.proxy");
  return typeof parsed === "string" ? parsed : undefined;
}

/** The proxy `value` names, or why it names none (the reason never contains its password). */
export function parseProxyUrl(value: string, source: string): ProxySetting | string {
  const text = value.trim();
  // Many tools take a bare host:port in these variables: read it as http://.
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return `not a proxy URL (${FORM})`;
  }
  if (url.protocol === "https:") {
    return `an https:// proxy (TLS to the proxy itself) is not supported: give the proxy's plain port, ${FORM}`;
  }
  if (url.protocol !== "http:") {
    return `${url.protocol.replace(/:$/, "")}:// proxies are not supported: give an HTTP proxy, ${FORM}`;
  }
  if (!url.hostname) return `no host in the proxy URL (${FORM})`;
  if (url.pathname !== "/" || url.search || url.hash) {
    return `a proxy URL has no path (${FORM})`;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port ? Number(url.port) : 80;
  let auth: ProxySetting["auth"];
  if (url.username || url.password) {
    try {
      auth = { user: decodeURIComponent(url.username), password: decodeURIComponent(url.password) };
    } catch {
      return "the proxy's user or password is not valid percent-encoding (write % as %25)";
    }
  }
  return { host, port, ...(auth ? { auth } : {}), source };
}

/** A proxy setting that cannot be used (the variable's value is not a proxy URL): stops the start. */
export class ProxySettingError extends Error {
  override name = "ProxySettingError";
}

/** The variables a hub URL's scheme reads, in order (the lower-case one first, as curl does). */
function variablesFor(hubUrl: URL): string[] {
  return hubUrl.protocol === "wss:" || hubUrl.protocol === "https:"
    ? ["https_proxy", "HTTPS_PROXY"]
    : ["http_proxy", "HTTP_PROXY"];
}

/**
 * Whether `NO_PROXY` (a comma- or space-separated list) names `host`: `*` names every host; an entry names
 * the host itself and every name under it (`example.org` and `.example.org` both take `hub.example.org`); an
 * entry with a port (`hub.example.org:8443`) names that port only. IP addresses are compared whole.
 */
export function noProxyMatches(noProxy: string, host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1").replace(/\.$/, "");
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    let entryPort: number | undefined;
    const withPort = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (withPort) {
      entry = withPort[1];
      entryPort = Number(withPort[2]);
    }
    entry = entry.replace(/^\[(.*)\]$/, "$1").replace(/^\*?\./, "").replace(/\.$/, "");
    if (!entry || (entryPort !== undefined && entryPort !== port)) continue;
    if (h === entry || h.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * The proxy for `hubUrl` (a tunnel URL, ws:// or wss://): `hub.proxy` when set, else the scheme's variable;
 * none when NO_PROXY names the hub. Throws ProxySettingError for a variable that is not a proxy URL (the
 * configuration's own key is checked when the configuration is read).
 */
export function proxyFor(
  hubUrl: string,
  configured: string | undefined,
  env: Record<string, string | undefined>,
): ProxySetting | undefined {
  const url = new URL(hubUrl);
  const port = url.port ? Number(url.port) : url.protocol === "wss:" || url.protocol === "https:" ? 443 : 80;
  const noProxy = env.no_proxy ?? env.NO_PROXY ?? "";
  if (noProxyMatches(noProxy, url.hostname, port)) return undefined;
  if (configured) {
    const parsed = parseProxyUrl(configured, "hub.proxy");
    if (typeof parsed === "string") throw new ProxySettingError(`hub.proxy: ${parsed}`);
    return parsed;
  }
  for (const name of variablesFor(url)) {
    const value = env[name]?.trim();
    if (!value) continue;
    const parsed = parseProxyUrl(value, name);
    if (typeof parsed === "string") {
      throw new ProxySettingError(
        `${name} (environment): ${parsed}; fix or unset it, or set hub.proxy, or name the hub in NO_PROXY`,
      );
    }
    return parsed;
  }
  return undefined;
}

/** The process's environment, for proxyFor (empty where the agent may not read it). */
export function processEnv(): Record<string, string | undefined> {
  try {
    return Deno.env.toObject();
  } catch {
    return {};
  }
}

/** Whether the environment names a proxy Deno's own fetch would use (so a direct request must avoid fetch). */
export function envNamesProxy(env: Record<string, string | undefined>): boolean {
  return ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
    .some((name) => Boolean(env[name]?.trim()));
}
