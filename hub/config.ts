/** The hub's configuration: defaults, then the YAML file, then CONDUIT_HUB_* variables, then flags. */
import { z } from "zod";
import { type FlagTable, type LoadInput, loadLayered, numberKey } from "@conduit/shared/config";

/** A site's name as the registry takes it, or `*` for any site. */
const siteOrAny = z.string().regex(/^(\*|[a-z0-9][a-z0-9-]{0,63})$/, "expected a site name or *");

/**
 * A web origin as browsers send it in `Origin`: scheme, host and port only (`https://viewer.example`,
 * `http://10.0.0.5:3000`), lower case, without a default port, a path or a trailing slash; or `*`.
 */
const corsOrigin = z.string().superRefine((value, ctx) => {
  if (value === "*") return;
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    // said below
  }
  if (url && (url.protocol === "http:" || url.protocol === "https:") && url.origin === value) return;
  const like = url && (url.protocol === "http:" || url.protocol === "https:") ? ` (${url.origin}?)` : "";
  ctx.addIssue({
    code: z.ZodIssueCode.custom,
    message: `expected an origin: http(s)://host[:port], no path or trailing slash, or *${like}`,
  });
});

export const hubConfigSchema = z.object({
  host: z.string().min(1).default("127.0.0.1"),
  port: numberKey((n) => n.int().min(0).max(65535), "expected a number from 0 to 65535").default(8080),
  data: z.string().min(1).default("./data/hub"),
  /**
   * The database: absent or `file:` for the embedded libsql file under `data` (one hub), `file:PATH`
   * for another file, `postgres://user:password@host:port/database` for a PostgreSQL shared by
   * several hubs.
   */
  db: z.string().min(1).optional(),
  /**
   * How the other hubs of a cluster reach this one (its base URL, e.g. `http://10.0.0.2:8080`); needed
   * with a PostgreSQL `db` for requests to sites this hub holds to come from other hubs.
   */
  clusterUrl: z.string().url().optional(),
  /**
   * CA certificates (PEM file) to trust, besides the system's, for the other hubs' `https://` cluster URLs
   * (the hub-to-hub link over wss); read and checked at start.
   */
  clusterCaFile: z.string().min(1).optional(),
  /**
   * The URL agents and browsers reach the hub at: links are built on it, and an https one makes the
   * console's cookie Secure (a hub behind a TLS proxy).
   */
  publicUrl: z.string().url().optional(),
  /** Serve HTTPS (and wss for agents) with this certificate chain and key, PEM files. */
  tls: z.object({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
  }).strict().optional(),
  dicomweb: z.object({
    /** Largest STOW-RS request body (a larger declared Content-Length is refused before reading). */
    maxStowMegabytes: numberKey((n) => n.positive()).default(4096),
    /** A STOW-RS client that sends nothing this long while its body is read gets 408. */
    stowIdleSeconds: numberKey((n) => n.positive().max(3600)).default(60),
    /**
     * An answer (WADO-RS, zip, frames, bulk data, metadata, QIDO-RS) whose client has taken no bytes this
     * long is cancelled: its tunnel stream reset, its connection dropped (hub/dicomweb/stall.ts).
     */
    stallSeconds: numberKey((n) => n.positive().max(86400)).default(300),
    /**
     * How long a federated search (QIDO-RS at `/dicomweb`, `query.studies` without a site) waits for each
     * site, from when it asks that one (dicomweb/federation.ts): a site slower than that is named, left out.
     */
    federatedSiteSeconds: numberKey((n) => n.positive().max(3600)).default(60),
    /** Build links from X-Forwarded-Proto/Host/Prefix (only behind a proxy that sets them). */
    trustForwardedHeaders: z.boolean().default(false),
    /**
     * CORS for `/dicomweb` only (hub/dicomweb/cors.ts): the web origins whose pages may call it with an API
     * token (never with the console's session), or `["*"]` for any; empty: no CORS headers at all.
     */
    cors: z.object({
      origins: z.array(corsOrigin).max(1000).refine(
        (o) => !o.includes("*") || o.length === 1,
        "* (any origin) stands alone",
      ).default([]),
      /** How long a browser may keep a preflight's answer (Access-Control-Max-Age). */
      maxAgeSeconds: numberKey((n) => n.int().min(0).max(86400), "expected a number from 0 to 86400")
        .default(600),
    }).strict().default({}),
  }).strict().default({}),
  tunnel: z.object({
    heartbeatSeconds: numberKey((n) => n.positive().max(60)).default(5),
    heartbeatTimeoutSeconds: numberKey((n) => n.positive().max(120)).default(10),
    /** An agent's WebSocket that sends no hello this long after the upgrade is closed. */
    helloTimeoutSeconds: numberKey((n) => n.positive().max(120)).default(10),
    /**
     * After a credential rotation the agent confirmed, how long the replaced credential is still accepted
     * (less if the agent connects with the new one first).
     */
    rotationGraceSeconds: numberKey((n) => n.nonnegative().max(7 * 24 * 3600)).default(600),
    /**
     * Rotate each connected site's credential once it is this many days old (since its last rotation, else
     * its enrollment); unset: only on demand.
     */
    rotateCredentialsDays: numberKey((n) => n.positive().max(3650)).optional(),
    /**
     * Which sites may relay to which under their own routes: `{ north: [south], "*": [archive] }`, `"*"`
     * for any. Absent: any enrolled site to any other. Transfers relay from their source to their
     * destination whatever it says (hub/tunnel/relay_policy.ts).
     */
    relays: z.record(siteOrAny, z.array(siteOrAny).max(10_000)).optional(),
    /**
     * Mutual TLS through the proxy that ends TLS for the hub: the request header in which the proxy names
     * the verified client certificate's subject CN (e.g. `x-ssl-client-cn`). Set, an agent is let in only
     * with that header naming its own site (enrollment and the tunnel). Only for a hub that nothing but
     * that proxy can reach: anyone who reaches the hub directly could set the header.
     */
    clientCertHeader: z.string().regex(/^[A-Za-z0-9-]{1,64}$/, "a header name: letters, digits and -")
      .optional(),
  }).strict().default({}),
  metrics: z.object({
    /**
     * Also serve `/metrics` without a token on this port of `metrics.host` (loopback unless set), for a
     * Prometheus beside the hub. `/metrics` on the main port always needs an API token.
     */
    port: numberKey((n) => n.int().min(1).max(65535), "expected a number from 1 to 65535").optional(),
    host: z.string().min(1).default("127.0.0.1"),
  }).strict().default({}),
  console: z.object({
    /**
     * A console session that goes unused this long ends (its user logs in again); each use slides it, up to
     * 12 hours from its login.
     */
    sessionIdleMinutes: numberKey((n) => n.positive().max(720)).default(30),
  }).strict().default({}),
  log: z.object({
    level: z.enum(["debug", "info", "warn", "error"]).default("info"),
  }).strict().default({}),
}).strict();

export type HubConfig = z.infer<typeof hubConfigSchema>;

export const HUB_FLAGS: FlagTable = {
  host: { key: "host", help: "listen address (default 127.0.0.1)" },
  port: { key: "port", help: "listen port (default 8080)" },
  data: { key: "data", help: "data directory (default ./data/hub)" },
  db: { key: "db", help: "database: file: (default, under --data) or postgres://user:pass@host:port/db" },
  "cluster-url": { key: "clusterUrl", help: "the URL other hubs of a cluster reach this one at" },
  "cluster-ca-file": {
    key: "clusterCaFile",
    help: "CA certificates (PEM) to trust for other hubs' https cluster URLs",
  },
  "public-url": {
    key: "publicUrl",
    help: "the URL agents and browsers use to reach the hub (https: Secure cookie)",
  },
  "metrics-port": { key: "metrics.port", help: "also serve /metrics without a token on this loopback port" },
  "log-level": { key: "log.level", help: "debug, info, warn or error" },
};

export function loadHubConfig(input: LoadInput): { config: HubConfig; file?: string } {
  return loadLayered({ schema: hubConfigSchema, flags: HUB_FLAGS, envPrefix: "CONDUIT_HUB_" }, input);
}
