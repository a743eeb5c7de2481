/**
 * The running hub: its database, site registry, live tunnel sessions and the Hono app serving
 * `/healthz`, `/metrics`, `/tunnel`, `/auth`, `/trpc`, `/dicomweb`, the viewer (`/viewer/`) and the
 * console. Unknown paths
 * under the API prefixes are 404 problem objects, never the console's page.
 */
import { SiteErasure } from "./sites/erasure.ts";
import { withHead } from "./head.ts";
import { type Context, Hono } from "hono";
import type { Logger } from "@conduit/shared/log";
import { HTTP_STOP_GRACE_MS, shutdownWithin } from "@conduit/shared/process";
import { type HubDb, openHubDb, parseDbUrl } from "./db/db.ts";
import { dataDirError, entriesError, NOT_A_DIRECTORY, unusableEntries } from "@conduit/shared/data-dir";
import * as os from "node:os";
import { listenHint } from "@conduit/shared/listen";
import { RestartNotices } from "@conduit/shared/config-diff";
import { logCertificateExpiries, watchCertificateExpiries } from "@conduit/shared/tls";
import { DbProbe } from "./db/health.ts";
import { databaseGuard } from "./db/guard.ts";
import { SiteRegistry } from "./sites/registry.ts";
import { CredentialRotation } from "./sites/rotation.ts";
import { Sessions } from "./tunnel/sessions.ts";
import { tunnelRoutes } from "./tunnel/endpoint.ts";
import { relayPolicy } from "./tunnel/relay_policy.ts";
import type { HubConfig } from "./config.ts";
import { reloadHubConfig } from "./reload.ts";
import { HubMetrics, metricsApp, metricsResponse } from "./metrics.ts";
import { securityHeaders } from "./headers.ts";
import { BUILD_TEXT, VERSION } from "./version.ts";
import * as path from "node:path";
import * as fs from "node:fs";
import { ApiTokens } from "./auth/tokens.ts";
import { Users } from "./auth/users.ts";
import { authRoutes } from "./auth/routes.ts";
import { consoleRoutes, decodePath } from "./console.ts";
import { addViewerRoutes, VIEWER_DIR, viewerInstalled } from "./viewer.ts";
import { resolvePrincipal } from "./auth/principal.ts";
import { dicomwebRoutes } from "./dicomweb/routes.ts";
import { reloadableCors } from "./dicomweb/cors.ts";
import { sweepSpool } from "./dicomweb/stow/spool.ts";
import { TunnelBackendProvider } from "./dicomweb/tunnel_backend.ts";
import { trpcServer } from "@hono/trpc-server";
import { appRouter } from "./api/router.ts";
import { downloadRoutes } from "./api/downloads.ts";
import { TransferService } from "./transfers/service.ts";
import { BatchService } from "./transfers/batch.ts";
import { problem } from "./problem.ts";
import { toTrpcError } from "./api/errors.ts";
import { methodMessage } from "./api/trpc.ts";
import {
  DATABASE_RETRY_AFTER_S,
  databaseAwayMessage,
  databaseAwayReason,
  isDatabaseAway,
} from "./db/errors.ts";
import { type Cluster, noClusterRoutes, startCluster } from "./cluster/mod.ts";
import {
  clusterCaCerts,
  hubCertificateExpiries,
  hubTlsFiles,
  reloadedClusterCa,
  reloadedHubTls,
} from "./tls_files.ts";
import { HubServer } from "./https_server.ts";
import { HubDirLock } from "./data_lock.ts";
import { failedBodyHandler, guarded } from "@conduit/shared/serve-errors";

/** The largest body of a tRPC call: a batch file of 50 MB in base64 (hub/api/batch.ts) and its fields. */
const MAX_TRPC_BYTES = 64 * 1024 * 1024;

class BodyTooLarge extends Error {
  override name = "BodyTooLarge";
  constructor() {
    super(`a tRPC call's body is at most ${MAX_TRPC_BYTES / 1024 / 1024} MiB`);
  }
}

const tooLarge = (c: Context) => problem(c, 413, new BodyTooLarge().message);

/** Prefixes where the console's page is never the answer. */
const API_PREFIXES = ["/dicomweb", "/trpc", "/auth", "/api", "/tunnel", "/cluster"];

export interface RunningHub {
  port: number;
  /** The HTTP app (the role matrix test lists its routes). */
  app: Hono;
  tokens: ApiTokens;
  users: Users;
  transfers: TransferService;
  db: HubDb;
  registry: SiteRegistry;
  sessions: Sessions;
  /** Credential rotation of the sites this hub holds (and asked of the hub holding the others). */
  rotation: CredentialRotation;
  /** This hub's part in a cluster on a shared PostgreSQL, if it is one. */
  cluster?: Cluster;
  /**
   * Reads `tls.certFile` and `tls.keyFile` again (SIGHUP) and serves new connections with them when they
   * are a valid pair, else keeps the pair in use; reads `clusterCaFile` again and trusts it for new links to
   * other hubs when it is valid, else keeps the CA in use; logs each either way. True when all new files are
   * used.
   */
  reloadTls(): boolean;
  /**
   * Reads the configuration file again (SIGHUP; `load` as at start) and applies its `log.level`,
   * `dicomweb.cors`, `tunnel.relays` and `dicomweb.maxStowMegabytes` at once (reload.ts); other keys changed
   * are logged as waiting for a restart; a file that does not load changes nothing. True when applied.
   */
  reloadConfig(load: () => HubConfig): boolean;
  stop(): Promise<void>;
}

/** A server started by `serve`; failing, the error says which address it could not listen on. */
function listening<T>(address: string, serve: () => T, setting: string, what = ""): T {
  try {
    return serve();
  } catch (err) {
    throw new Error(
      `cannot listen ${what}on ${address}: ${(err as Error).message}${listenHint(err, setting)}`,
    );
  }
}

/**
 * Starts the hub on `config`. `options.viewerDir`: where the viewer's files are (default: where
 * `deno task build:viewer` puts them; tests give an empty directory to see the hub without one).
 */
export async function startHub(
  config: HubConfig,
  log: Logger,
  options: { viewerDir?: string } = {},
): Promise<RunningHub> {
  const lock = new HubDirLock(config.data);
  try {
    const hub = await startHolding(config, log, options, lock);
    const stop = hub.stop.bind(hub);
    hub.stop = async () => {
      try {
        await stop();
      } finally {
        lock.release();
      }
    };
    return hub;
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** startHub(), the data directory's lock taken as soon as the directory is there ({@link HubDirLock}). */
async function startHolding(
  config: HubConfig,
  log: Logger,
  options: { viewerDir?: string },
  lock: HubDirLock,
): Promise<RunningHub> {
  const viewerDir = options.viewerDir ?? VIEWER_DIR;
  const tls = hubTlsFiles(config);
  const peerCaCerts = clusterCaCerts(config);
  // A certificate that ends soon, or has ended, is logged and measured; the hub starts all the same.
  const now = Date.now();
  let expiries = hubCertificateExpiries(config, now);
  logCertificateExpiries(log.child({ part: "tls" }), expiries, now);
  const readyDataDir = () => {
    try {
      fs.mkdirSync(config.data, { recursive: true });
      if (!fs.statSync(config.data).isDirectory()) throw NOT_A_DIRECTORY;
      fs.accessSync(config.data, fs.constants.W_OK | fs.constants.X_OK);
      // A file made and removed: access() says yes to root on a file system mounted read-only.
      const probe = path.join(config.data, `.start-probe-${Deno.pid}`);
      fs.writeFileSync(probe, "", { flag: "w", mode: 0o600 });
      fs.rmSync(probe, { force: true });
    } catch (err) {
      throw dataDirError(path.resolve(config.data), err, "CONDUIT_HUB_DATA");
    }
    const unusable = unusableEntries(config.data, fs);
    if (unusable.length) {
      throw entriesError(path.resolve(config.data), unusable, () => os.userInfo().username);
    }
  };
  // A --db that cannot be used, or a PostgreSQL that does not answer, stops the hub before it makes its
  // data directory; the libsql file lives in it, so that one is made first.
  const onFile = parseDbUrl(config.db).dialect === "sqlite";
  if (onFile) {
    readyDataDir();
    lock.take();
  }
  const db = await openHubDb(config.data, config.db);
  if (!onFile) {
    try {
      readyDataDir();
      lock.take();
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  const registry = new SiteRegistry(db);
  const spoolDir = path.join(config.data, "spool");
  await sweepSpool(spoolDir, log.child({ part: "dicomweb" }));
  // On its own file no session survives a restart; in a cluster the leases say which sites are online.
  if (db.engine === "sqlite") await registry.markAllOffline();
  const sessions = new Sessions(registry, log.child({ part: "tunnel" }), config.tunnel);
  const configLog = log.child({ part: "config" });
  const cluster = db.engine === "postgres"
    ? await startCluster({
      db,
      sessions,
      registry,
      clusterUrl: config.clusterUrl,
      caCerts: peerCaCerts,
      version: BUILD_TEXT,
      log: log.child({ part: "cluster" }),
    })
    : undefined;
  const metrics = new HubMetrics(sessions);
  metrics.setCertificateExpiries(expiries);
  const rotation = new CredentialRotation(db, registry, sessions, log.child({ part: "tunnel" }), {
    graceMs: config.tunnel.rotationGraceSeconds * 1000,
    hubId: cluster?.hubId,
    autoEveryMs: config.tunnel.rotateCredentialsDays === undefined
      ? undefined
      : config.tunnel.rotateCredentialsDays * 86400_000,
  });
  rotation.start();

  const tokens = new ApiTokens(db);
  const users = new Users(db, { idleMs: config.console.sessionIdleMinutes * 60_000 });
  const app = new Hono();
  app.use("*", securityHeaders({ publicUrl: config.publicUrl }));
  const dbLog = log.child({ part: "db" });
  const dbProbe = new DbProbe(() => db.probe(), {
    onChange: (health, err) => {
      if (health.ok) return dbLog.info("the database answers again");
      const cause = (err as Error | undefined)?.cause ?? err;
      dbLog.error("the database failed its health probe", {
        problem: health.problem,
        ...(cause ? { reason: cause instanceof Error ? cause.message : String(cause) } : {}),
      });
    },
  });
  // A request that waits on a database that does not answer (a partition: no refusal, no reset) is answered
  // 503 once the probe says so, within a few seconds, rather than when TCP gives up (db/guard.ts).
  const guard = databaseGuard(dbProbe, {
    onRefused: (path, problem) =>
      dbLog.warn("request refused: the database does not answer", { path, problem }),
  });
  for (const prefix of ["/dicomweb", "/trpc", "/auth", "/api", "/tunnel", "/metrics"]) {
    app.use(prefix, guard);
    app.use(`${prefix}/*`, guard);
  }
  app.get("/healthz", async (c) => {
    // A hub that cannot read and write its database is out of service (a load balancer sends no one to
    // it): its transfers, sessions and logins all go through it. In a cluster, also one whose heartbeat has
    // not reached the database within a lease (it may hold sites' leases another hub has taken since).
    const health = await dbProbe.health();
    const problem = !health.ok
      ? health.problem
      : cluster && !cluster.leases.healthy
      ? `the cluster heartbeat has not reached the database for ${cluster.leases.leaseMs / 1000} s`
      : undefined;
    const sites = sessions.list().length;
    if (problem) {
      return c.json({ status: "no database", version: VERSION, sites, database: "error", problem }, 503);
    }
    return c.json({ status: "ok", version: VERSION, sites, database: "ok" });
  });
  app.get("/metrics", async (c) => {
    const r = await resolvePrincipal(c, tokens, users);
    if ("error" in r) {
      return problem(c, 401, "send an API token as Authorization: Bearer <token>, or scrape metrics.port", {
        "www-authenticate": 'Bearer realm="conduit"',
      });
    }
    if (r.principal.sites) {
      return problem(c, 403, "the metrics cover every site: use a token not limited to sites");
    }
    return await metricsResponse(c, metrics);
  });
  app.route("/cluster", cluster ? cluster.peers.routes() : noClusterRoutes());
  app.route(
    "/tunnel",
    tunnelRoutes(registry, sessions, log.child({ part: "tunnel" }), BUILD_TEXT, {
      clientCertHeader: config.tunnel.clientCertHeader,
      helloTimeoutMs: config.tunnel.helloTimeoutSeconds * 1000,
    }),
  );
  app.route(
    "/auth",
    authRoutes(users, {
      publicUrl: config.publicUrl,
      trustForwarded: config.dicomweb.trustForwardedHeaders,
      viewerInstalled: () => viewerInstalled(viewerDir),
    }, log.child({ part: "auth" })),
  );
  const provider = new TunnelBackendProvider(registry, sessions);
  const transfers = new TransferService(db, sessions, async (site) => {
    const row = await registry.get(site);
    return Boolean(row && row.state !== "pending" && row.state !== "revoked");
  }, log.child({ part: "transfers" }));
  sessions.relayLimiter = (site, route, to) => transfers.limiterFor(site, route, to);
  sessions.relayDownlink = (site, route, to) => transfers.downlinkFor(site, route, to);
  const policyOf = (relays: HubConfig["tunnel"]["relays"]) =>
    relayPolicy(relays, (route) => transfers.routeEnds(route));
  sessions.relayPolicy = policyOf(config.tunnel.relays);
  transfers.leases = cluster?.transfers;
  transfers.onTaskFinished = (outcome) => metrics.transferTasksFinished.inc({ outcome });
  metrics.sources.taskCounts = () => transfers.taskCounts();
  if (cluster) {
    metrics.sources.clusterPeers = () => cluster.leases.livePeers;
    cluster.peers.onRequest = (direction, outcome) => metrics.clusterRequests.inc({ direction, outcome });
    // Reported at 0 from the start, so that the first one failed shows in increase().
    for (const outcome of ["ok", "unheld", "no-url", "unreachable", "refused", "no-answer"]) {
      metrics.clusterRequests.inc({ direction: "out", outcome }, 0);
    }
    for (const outcome of ["ok", "not-here", "failed"]) {
      metrics.clusterRequests.inc({ direction: "in", outcome }, 0);
    }
  }
  transfers.start();
  const batches = new BatchService(db, provider, transfers, log.child({ part: "batch" }));
  // Batches a hub left running when it stopped: this one's at start, another's of a cluster later.
  const recoverBatches = () =>
    batches.recover().catch((err) => log.warn("batch recovery failed", { reason: (err as Error).name }));
  void recoverBatches();
  const batchRecovery = setInterval(recoverBatches, 30_000);
  const erasure = new SiteErasure(registry, sessions, db, log.child({ part: "erase" }));
  const router = appRouter({
    db,
    users,
    registry,
    sessions,
    rotation,
    tokens,
    transfers,
    provider,
    batches,
    erasure,
    federatedSiteMs: config.dicomweb.federatedSiteSeconds * 1000,
    log: log.child({ part: "api" }),
  });
  const procedures = new Set(Object.keys(router._def.procedures));
  app.use("/trpc/*", async (c, next) => {
    // Past MAX_TRPC_BYTES a body is refused: at once when declared, else its stream fails there. Not
    // buffered here: a call is authenticated and checked against the role matrix before its body is read.
    if (Number(c.req.header("content-length") ?? 0) > MAX_TRPC_BYTES) return tooLarge(c);
    const body = c.req.raw.body;
    if (body) {
      // Read only as tRPC reads (a call refused before its input is read leaves the body unread).
      const reader = body.getReader();
      let seen = 0;
      const limited = new ReadableStream<Uint8Array>({
        async pull(out) {
          const { done, value } = await reader.read();
          if (done) return out.close();
          seen += value.byteLength;
          if (seen <= MAX_TRPC_BYTES) return out.enqueue(value);
          out.error(new BodyTooLarge());
        },
        cancel: (reason) => reader.cancel(reason),
      }, { highWaterMark: 0 });
      c.req.raw = new Request(c.req.raw, { body: limited, duplex: "half" } as RequestInit);
    }
    await next();
  });
  app.use("/trpc/*", async (c, next) => {
    // A batch names its procedures with commas; any unknown one is a 404 for the whole call.
    const path = decodePath(c.req.path.slice("/trpc/".length));
    if (path === undefined) return problem(c, 404, "a path that is not percent-encoded UTF-8 names nothing");
    const names = path.split(",");
    const unknown = names.find((n) => !procedures.has(n));
    if (unknown !== undefined) return problem(c, 404, `no procedure ${JSON.stringify(unknown)} at /trpc`);
    // tRPC takes GET and POST alone; another method it refuses as a body of the wrong type (415 "a mutation's
    // body is its input as JSON"), which misleads: say which method the procedure takes (until 2026-12-06).
    if (c.req.method !== "GET" && c.req.method !== "POST") {
      const type =
        (router._def.procedures as unknown as Record<string, { _def: { type: string } }>)[names[0]]._def.type;
      const allow = type === "mutation" ? "POST" : "GET";
      return c.json(
        {
          error: {
            message: `${methodMessage(names[0], type)} (not ${c.req.method})`,
            code: -32005,
            data: { code: "METHOD_NOT_SUPPORTED", httpStatus: 405, path: names[0] },
          },
        },
        405,
        { allow },
      );
    }
    await next();
    // tRPC's own refusals before a procedure runs (a body not of JSON's type, a batch mixing queries and
    // mutations) are JSON labelled text/plain: label them as what they are.
    if (c.res.status >= 400 && c.res.headers.get("content-type")?.startsWith("text/plain")) {
      const headers = new Headers(c.res.headers);
      headers.set("content-type", "application/json");
      c.res = new Response(c.res.body, { status: c.res.status, headers });
    }
  });
  const trpcLog = log.child({ part: "trpc" });
  app.use(
    "/trpc/*",
    trpcServer({
      router,
      endpoint: "/trpc",
      createContext: async (_opts, c) => {
        const observe = (procedure: string, outcome: string) => metrics.trpcCalls.inc({ procedure, outcome });
        // Mapped here too: a failure of the context (the database away) never reaches the procedures' mapper,
        // and tRPC would answer it 500 with its message (drizzle's: the query and its parameters).
        const r = await resolvePrincipal(c, tokens, users).catch((err) => {
          throw toTrpcError(err);
        });
        if ("error" in r) return { refused: r.error, observe };
        // Asked as a subscription goes: not a use (an open job page must not keep its session for ever).
        const stillValid = async () => !("error" in await resolvePrincipal(c, tokens, users, { use: false }));
        return { principal: r.principal, stillValid, observe };
      },
      onError: ({ error, path }) => {
        if (error.code === "SERVICE_UNAVAILABLE" && isDatabaseAway(error.cause)) {
          trpcLog.warn("call refused: the database is away", {
            path,
            reason: databaseAwayReason(error.cause),
          });
        } else if (error.code === "INTERNAL_SERVER_ERROR") {
          trpcLog.error("procedure failed", { path, err: error.cause ?? error });
        }
      },
    }),
  );
  // CORS for /dicomweb alone (dicomweb.cors): preflights answered before authentication, and every answer
  // (errors too) to an allowed origin readable by its page. Nothing when no origin is configured; a reload
  // may change the origins.
  const cors = reloadableCors(config.dicomweb.cors, log.child({ part: "dicomweb" }));
  app.use("/dicomweb", cors.middleware);
  app.use("/dicomweb/*", cors.middleware);
  // A DICOMweb path with a trailing slash (`/dicomweb/studies/`) is the path without it, as Orthanc and
  // dcm4chee take it: scripts that join a base URL and a resource often leave one.
  app.use("/dicomweb/*", async (c, next) => {
    const url = new URL(c.req.url);
    if (!url.pathname.endsWith("/")) return await next();
    url.pathname = url.pathname.replace(/\/+$/, "");
    return await app.fetch(new Request(url, c.req.raw), c.env);
  });
  // Read per request: a reload changes maxStowBytes and stowIdleMs in place (an upload under way keeps the
  // idle bound it read: stow/route.ts hands it to the body's guard once).
  const dicomwebOptions = {
    publicUrl: config.publicUrl,
    trustForwarded: config.dicomweb.trustForwardedHeaders,
    spoolDir,
    maxStowBytes: config.dicomweb.maxStowMegabytes * 1024 * 1024,
    stowIdleMs: config.dicomweb.stowIdleSeconds * 1000,
    stallSeconds: config.dicomweb.stallSeconds,
    federatedSiteMs: config.dicomweb.federatedSiteSeconds * 1000,
    erase: erasure,
    metrics,
  };
  app.route(
    "/dicomweb",
    dicomwebRoutes(provider, tokens, users, dicomwebOptions, log.child({ part: "dicomweb" })),
  );
  // Files streamed as they are written (a batch's results as CSV), beside the tRPC procedures.
  app.route("/api", downloadRoutes({ tokens, users, batches, log: log.child({ part: "api" }) }));
  for (const prefix of API_PREFIXES) {
    const missing = (c: Context) => problem(c, 404, `nothing at ${c.req.path}`);
    app.all(prefix, missing);
    app.all(`${prefix}/*`, missing);
  }
  addViewerRoutes(app, { tokens, users, registry, publicUrl: config.publicUrl }, viewerDir);
  app.route("/", consoleRoutes());
  app.onError((err, c) => {
    // The database away (restarted, stopped, failing over): a 503 to ask again, not a fault of the hub.
    if (isDatabaseAway(err)) {
      log.warn("request refused: the database is away", {
        path: c.req.path,
        reason: databaseAwayReason(err),
      });
      return problem(c, 503, databaseAwayMessage(err), { "retry-after": String(DATABASE_RETRY_AFTER_S) });
    }
    log.error("request failed", { path: c.req.path, err });
    return problem(c, 500, "internal error");
  });

  const server = listening(
    `${config.host}:${config.port}`,
    () =>
      new HubServer(
        { hostname: config.host, port: config.port, tls, log: log.child({ part: "http" }) },
        withHead((req, info) => app.fetch(req, { remoteAddr: info.remoteAddr })),
      ),
    "port (--port, CONDUIT_HUB_PORT)",
  );
  const metricsServer = config.metrics.port
    ? listening(
      `${config.metrics.host}:${config.metrics.port}`,
      () =>
        Deno.serve(
          {
            hostname: config.metrics.host,
            port: config.metrics.port,
            onListen: () => {},
            onError: failedBodyHandler(log.child({ part: "metrics" })),
          },
          guarded(metricsApp(metrics).fetch, log.child({ part: "metrics" })),
        ),
      "metrics.port (--metrics-port)",
      "for /metrics ",
    )
    : undefined;
  // A certificate that comes near its end while the hub runs is logged then, once a day.
  const tlsLog = log.child({ part: "tls" });
  let stopCertificateWatch = watchCertificateExpiries(tlsLog, expiries);
  let stopping = false;
  // What the reloads (SIGHUP) said waits for a restart, so that each change is said once.
  const restartNotices = new RestartNotices();
  log.info("hub started", {
    version: VERSION,
    build: BUILD_TEXT,
    listen: `${config.tls ? "https" : "http"}://${config.host}:${server.addr.port}`,
    ...(metricsServer ? { metrics: `http://${config.metrics.host}:${metricsServer.addr.port}/metrics` } : {}),
    ...(config.dicomweb.cors.origins.length ? { dicomwebCorsOrigins: config.dicomweb.cors.origins } : {}),
  });
  return {
    port: server.addr.port,
    app,
    tokens,
    users,
    transfers,
    db,
    registry,
    sessions,
    rotation,
    cluster,
    reloadTls() {
      // A SIGHUP while the hub stops: no new server.
      if (stopping) return false;
      if (!config.tls && !config.clusterCaFile) {
        tlsLog.info(
          "TLS reload asked: nothing to reload, the hub serves plain HTTP and names no clusterCaFile",
        );
        return false;
      }
      const now = Date.now();
      let used = true;
      if (config.tls) {
        try {
          const next = reloadedHubTls(config, expiries, now);
          // The same pair (a reload for the cluster CA only): the server, and the tunnels on it, go on.
          const replaced = server.replaceTls(next.pair);
          expiries = next.expiries;
          const https = expiries.find((e) => e.label === "https")!;
          tlsLog.info(
            replaced
              ? "TLS certificate reloaded: new connections get it, agents' tunnels reconnect"
              : "TLS certificate unchanged: the server and the agents' tunnels go on",
            {
              setting: "tls.certFile",
              file: https.file,
              notAfter: new Date(https.validity.notAfter).toISOString(),
            },
          );
          logCertificateExpiries(tlsLog, [https], now);
        } catch (err) {
          used = false;
          tlsLog.error("TLS certificate not reloaded: the hub keeps serving the one it had", {
            reason: (err as Error).message,
          });
        }
      }
      if (config.clusterCaFile) {
        try {
          const next = reloadedClusterCa(config, now);
          cluster?.peers.setCaCerts(next.caCerts);
          expiries = [...expiries.filter((e) => e.label !== "cluster-ca"), next.expiry];
          tlsLog.info("cluster CA reloaded: new links to other hubs trust it, open ones go on", {
            setting: "clusterCaFile",
            file: next.expiry.file,
            notAfter: new Date(next.expiry.validity.notAfter).toISOString(),
          });
          logCertificateExpiries(tlsLog, [next.expiry], now);
        } catch (err) {
          used = false;
          tlsLog.error("cluster CA not reloaded: links to other hubs keep trusting the one it had", {
            reason: (err as Error).message,
          });
        }
      }
      metrics.setCertificateExpiries(expiries);
      stopCertificateWatch();
      stopCertificateWatch = watchCertificateExpiries(tlsLog, expiries);
      return used;
    },
    reloadConfig(load) {
      // A SIGHUP while the hub stops: nothing to change.
      if (stopping) return false;
      return reloadHubConfig(
        {
          config,
          setLogLevel: (level) => log.setLevel(level),
          setCors: (options) => cors.set(options),
          setRelays: (relays) => sessions.relayPolicy = policyOf(relays),
          setMaxStowMegabytes: (megabytes) => dicomwebOptions.maxStowBytes = megabytes * 1024 * 1024,
          setStowIdleSeconds: (seconds) => dicomwebOptions.stowIdleMs = seconds * 1000,
          restartNotices,
        },
        load,
        configLog,
      );
    },
    async stop() {
      stopping = true;
      clearInterval(batchRecovery);
      stopCertificateWatch();
      transfers.stop();
      rotation.stop();
      await cluster?.stop();
      await sessions.stop();
      // Requests still open after the grace (a slow upload, a console's live updates) are cut by the exit.
      const [closed, metricsClosed] = await Promise.all([
        shutdownWithin(server),
        metricsServer ? shutdownWithin(metricsServer) : true,
      ]);
      if (!closed || !metricsClosed) {
        log.warn("stopping: HTTP requests still open are cut", { waitedMs: HTTP_STOP_GRACE_MS });
      }
      await db.close();
      log.info("hub stopped");
    },
  };
}
