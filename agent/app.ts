/**
 * Wires one agent together: archive and index, the DIMSE SCP over them, the loopback HTTP API.
 * Everything is passed down from the validated configuration; nothing reads globals.
 *
 * This file is the order of a start and of a stop. The parts it starts are beside it, in that order:
 * app_checks.ts (what stops a start before anything opens), app_recover.ts (what an earlier run left,
 * finished before any work), app_dimse.ts (the SCP and its handlers), app_http.ts (the HTTP API's routes
 * over their backends), app_tunnel.ts (the link to the hub and what the site serves it), app_tls.ts
 * (certificates watched, TLS files reloaded).
 */
import { listenHint } from "@conduit/shared/listen";
import { RestartNotices } from "@conduit/shared/config-diff";
import * as path from "node:path";
import type { Logger } from "@conduit/shared/log";
import { HTTP_STOP_GRACE_MS, shutdownWithin } from "@conduit/shared/process";
import type { AgentConfig } from "./config/schema.ts";
import type { Archive } from "./archive/archive.ts";
import { FileArchive } from "./archive/file_archive.ts";
import { lockDataDir } from "./archive/lock.ts";
import { Retention, type RetentionPolicy } from "./forward/retention.ts";
import { markCleanStop } from "./ingest/recover.ts";
import { Intake } from "./ingest/intake.ts";
import { Ingest } from "./ingest/ingest.ts";
import { HashBackfill } from "./ingest/backfill.ts";
import { Database } from "./index/db.ts";
import { lazyQueryHandler } from "./query/lazy.ts";
import { announceImplementation } from "./dimse/identity.ts";
import { registerPixelDecoder } from "./dimse/pixel_decoder.ts";
import { canTranscode, transcodeObject } from "./transcode/mod.ts";
import { memorySource } from "./part10/source.ts";
import { TransferSyntax } from "@conduit/shared/dicom";
import type { ScpServer } from "./dimse/scp_server.ts";
import { releaseMemory } from "./dimse/deno_socket.ts";
import { scpTlsMaterial } from "./config/tls_files.ts";
import { AgentMetrics } from "./metrics.ts";
import { exposureWarning } from "./http/exposure.ts";
import { NodeOperations } from "./nodes/operations.ts";
import { LazyStorageCommitment } from "./commitment/lazy.ts";
import type { CommitmentRequests } from "./forward/commitment_requests.ts";
import { compileRoutes } from "./routing/rules.ts";
import { RouteWindows } from "./routing/windows.ts";
import { reloadConfig } from "./reload.ts";
import { Queue } from "./queue/queue.ts";
import { Forwarder } from "./forward/forwarder.ts";
import { DeidStage } from "./forward/deid_stage.ts";
import { stageSettings } from "./forward/stage_settings.ts";
import { Copies } from "./queue/copies.ts";
import { BUILD_TEXT, VERSION } from "./version.ts";
import type { TunnelClient } from "./tunnel/client.ts";
import { loadPart } from "./lazy_part.ts";
import { checkBeforeStart, siteKey } from "./app_checks.ts";
import { recoverAtStart } from "./app_recover.ts";
import { startDimse } from "./app_dimse.ts";
import { mountHttp } from "./app_http.ts";
import { type AgentHttpServer, serveHttp } from "./http/serve.ts";
import { startHubLink } from "./app_tunnel.ts";
import { Certificates } from "./app_tls.ts";
import { DescriptorBudget } from "./descriptors.ts";
import {
  refusedCommitmentNodes,
  refusedCommitmentText,
  sharedAetText,
  sharedNodeAets,
} from "./config/shared_aets.ts";

/** How often the hash backfill looks whether it can run (besides when the SCP falls idle). */
const BACKFILL_LOOK_MS = 10_000;

export interface RunningAgent {
  config: AgentConfig;
  dimsePort: number;
  /** The DICOM over TLS port, when `dimse.tls` is configured. */
  dimseTlsPort?: number;
  httpPort: number;
  db: Database;
  archive: Archive;
  metrics: AgentMetrics;
  nodes: NodeOperations;
  queue: Queue;
  forwarder: Forwarder;
  /** The link to the hub, when one is configured and the agent is enrolled. */
  tunnel?: TunnelClient;
  /**
   * Reads every TLS file again (SIGHUP), by group (`dimse.tls`, `hub`, each `nodes.<name>.tls`): the new
   * handshakes of a group (the DICOM over TLS port, the tunnel's next connection, the next association to
   * the node) use its files when they are valid, else the files in use are kept; logs each group either way.
   * True when every group's new files are used.
   */
  reloadTls(): boolean;
  /**
   * Reads the configuration file again (SIGHUP; `load` as at start) and applies its `nodes`, `routes` and
   * `dimse.allowedCallingAets` at once (reload.ts); other keys changed are logged as waiting for a restart;
   * a file that does not load or check changes nothing. True when the file's settings are in force.
   */
  reloadConfig(load: () => AgentConfig): Promise<boolean>;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  const dataDir = await checkBeforeStart(config);
  const unlock = lockDataDir(dataDir);
  try {
    return await startLocked(config, log, dataDir, unlock);
  } catch (err) {
    unlock();
    throw err;
  }
}

async function startLocked(
  config: AgentConfig,
  log: Logger,
  dataDir: string,
  unlock: () => void,
): Promise<RunningAgent> {
  const archive: Archive = new FileArchive(dataDir, config.dimse.sync);
  const leftovers = await archive.prepare();
  if (leftovers) log.info("removed partial files left by an earlier run", { count: leftovers });
  // First: the soft descriptor limit raised toward the hard one, before anything is opened.
  const descriptors = new DescriptorBudget();
  const db = await Database.open(path.join(dataDir, "agent.db"), { durable: config.dimse.sync });
  const intake = new Intake(dataDir, config.dimse.sync);
  const partial = intake.prepare();
  if (partial) log.info("removed partial objects left in the intake by an earlier run", { count: partial });
  const metrics = new AgentMetrics();
  const certificates = new Certificates(config, log, metrics);

  announceImplementation(config.dimse.maxPduLength);
  // Compressed objects go decoded to a peer that takes none of their syntax (conformance, section 5).
  registerPixelDecoder({
    canDecode: (ts) => canTranscode(ts, TransferSyntax.ExplicitVRLittleEndian),
    decode: (part10, from) =>
      transcodeObject(memorySource(part10), from, TransferSyntax.ExplicitVRLittleEndian),
  });

  const scpTls = scpTlsMaterial(config);
  // The routes in force: compiled at start, replaced by a reload (reload.ts).
  let routes = compileRoutes(config);
  const queue = new Queue(db);
  queue.onDiscarded = (count, by) => metrics.discarded.inc({ by }, count);
  const copies = new Copies(db);
  const key = siteKey(config);
  let tunnel: TunnelClient | undefined;
  // Storage Commitment as SCU, loaded only where a node asks for it (or rows still await a report), at
  // start or when a reload adds such a node.
  const newCommitmentRequests = async () =>
    new (await loadPart("forward/commitment_requests")).CommitmentRequests(
      config,
      queue,
      log.child({ part: "forward-commitment" }),
      metrics.onCommitmentEvent,
    );
  let commitmentRequests: CommitmentRequests | undefined =
    Object.values(config.nodes).some((n) => n.storageCommitment) || queue.hasCommitting()
      ? await newCommitmentRequests()
      : undefined;
  const forwarder = new Forwarder(
    config,
    queue,
    archive,
    log.child({ part: "forward" }),
    metrics.onForwardEvent,
    () => tunnel?.session,
    new DeidStage(copies, archive, log.child({ part: "deid" }), stageSettings(() => routes, copies, key)),
    commitmentRequests,
  );
  try {
    await forwarder.prepare();
  } catch (err) {
    db.close();
    throw err;
  }
  metrics.queueSource = () => queue.summary();
  const ingest = new Ingest({
    archive,
    db,
    log: log.child({ part: "ingest" }),
    onStored: metrics.onStored,
    routing: { routes, queue, queued: (destinations) => destinations.forEach((d) => forwarder.wake(d)) },
    duplicates: config.archive.duplicates,
    minFreeBytes: config.archive.minFreeMegabytes * 1024 * 1024,
    intake: config.dimse.groupCommit ? intake : undefined,
    // CONDUIT_TEST_COMMIT_HOLD_MS: crash tests hold the group commit to kill the agent after Success.
    groupCommit: {
      holdMs: Number(Deno.env.get("CONDUIT_TEST_COMMIT_HOLD_MS") ?? 0) || 0,
      blockedLimitMs: config.dimse.commitWaitSeconds * 1000,
      retryCapMs: config.dimse.commitRetryCapSeconds * 1000,
      onCommitted: metrics.onGroupCommitted,
    },
  });
  // Readers of what is archived wait for the group commit of objects already answered Success.
  if (ingest.group) db.waitFor(() => ingest.settled());
  const { eraser, resolver } = await recoverAtStart({ db, archive, dataDir, ingest, intake, log });

  const archiveQuery = lazyQueryHandler(db, {
    aet: config.dimse.aet,
    maxResults: config.dimse.maxFindResults,
  });
  const nodeOps = new NodeOperations(config, ingest, archive, db, log.child({ part: "nodes" }));
  const commitment = new LazyStorageCommitment({
    config,
    db,
    archive,
    dataDir,
    log: log.child({ part: "commitment" }),
    onReport: metrics.onCommitmentReport,
  });

  // Objects received by C-STORE get their index hash once the agent is idle (ingest/backfill.ts): no
  // association open and nothing being forwarded (a send hashes what it sends itself). Looked at when the
  // SCP falls idle, and every few seconds for a backfill a busy spell stopped.
  const backfill = new HashBackfill(db, archive, log.child({ part: "backfill" }));
  let stopping = false;
  // What the reloads (SIGHUP) said waits for a restart, so that each change is said once.
  const restartNotices = new RestartNotices();
  const fillHashes = () =>
    void backfill.run(() => !stopping && scp.activeAssociations() === 0 && !forwarder.busy).then((hashed) => {
      // What reading and hashing left is given back, as after an association (deno_socket.ts).
      if (hashed && !stopping) releaseMemory();
    });
  let scp: ScpServer;
  try {
    scp = await startDimse({
      config,
      scpTls,
      db,
      archive,
      ingest,
      archiveQuery,
      commitment,
      requests: () => commitmentRequests,
      log,
      metrics,
      onIdle: fillHashes,
      descriptors,
    });
  } catch (err) {
    db.close();
    throw err;
  }
  metrics.activeSource = () => scp.activeAssociations();
  metrics.tunnelStreamsSource = () => tunnel?.session?.streamCount ?? 0;
  // Reports an earlier run left undelivered go out on new associations.
  commitment.start();

  // The backends the HTTP API and the hub reach.
  const backends = {
    config,
    dataDir,
    db,
    archive,
    ingest,
    metrics,
    nodeOps,
    queue,
    forwarder,
    resolver,
    eraser,
    log,
  };
  const app = mountHttp({ ...backends, tunnel: () => tunnel });
  let http: AgentHttpServer;
  try {
    http = serveHttp(
      { hostname: config.http.host, port: config.http.port },
      (req, info) => app.fetch(req, info),
      log.child({ part: "http" }),
    );
  } catch (err) {
    await scp.close();
    db.close();
    throw new Error(
      `cannot listen for HTTP on ${config.http.host}:${config.http.port}: ${(err as Error).message}` +
        listenHint(err, "http.port (--http-port, CONDUIT_AGENT_HTTP_PORT)"),
    );
  }

  // Routes with a time window: their rows held while it is closed, released when it opens (before the
  // forward workers first claim).
  const routeWindows = new RouteWindows(queue, log.child({ part: "routing" }), () => forwarder.wake());
  routeWindows.set(routes);
  forwarder.start();
  commitmentRequests?.start();
  const kept: RetentionPolicy = {
    afterForwardSeconds: config.archive.removeAfterForwardSeconds,
    afterDays: config.archive.removeAfterDays,
    maxBytes: config.archive.maxGigabytes === undefined ? undefined : config.archive.maxGigabytes * 1e9,
  };
  const retention = Retention.wanted(kept)
    ? new Retention(
      db,
      archive,
      kept,
      log.child({ part: "retention" }),
      (count) => metrics.removed.inc(count),
    )
    : undefined;
  retention?.start();
  try {
    tunnel = await startHubLink({ ...backends, archiveQuery, copies, key });
  } catch (err) {
    routeWindows.stop();
    await retention?.stop();
    await commitmentRequests?.stop();
    await forwarder.stop();
    await scp.close();
    await commitment.stop();
    await intake.close();
    await http.shutdown();
    db.close();
    throw err;
  }
  // What start-up left (module initialisation, migrations, recovery) is given back before the agent idles;
  // then objects a crash or the last run left without their hash are hashed.
  const settle = setTimeout(() => {
    releaseMemory();
    fillHashes();
  }, 1000);
  const backfillTimer = setInterval(fillHashes, BACKFILL_LOOK_MS);
  Deno.unrefTimer(backfillTimer);
  Deno.unrefTimer(settle);
  certificates.watch();
  descriptors.measure();
  log.info("file descriptors", {
    limit: descriptors.soft,
    hard: descriptors.start?.hard ?? null,
    ...(descriptors.start?.notRaised ? { notRaised: descriptors.start.notRaised } : {}),
    connections: descriptors.connections(),
    associations: Math.min(config.dimse.maxAssociations, descriptors.associations()),
  });
  if (descriptors.associations() < config.dimse.maxAssociations) {
    log.warn("dimse.maxAssociations does not fit the file descriptor limit; fewer are taken at once", {
      maxAssociations: config.dimse.maxAssociations,
      fit: descriptors.associations(),
      limit: descriptors.soft,
    });
  }
  for (const shared of sharedNodeAets(config.nodes)) log.warn(sharedAetText(shared));
  for (const r of refusedCommitmentNodes(config)) log.warn(refusedCommitmentText(r));
  log.info("agent started", {
    version: VERSION,
    build: BUILD_TEXT,
    aet: config.dimse.aet,
    dimse: `${config.dimse.host}:${scp.port}`,
    ...(scp.tlsPort ? { dimseTls: `${config.dimse.host}:${scp.tlsPort}` } : {}),
    http: `${config.http.host}:${http.addr.port}`,
  });
  const exposed = exposureWarning(config.http.host);
  if (exposed) log.child({ part: "http" }).warn("HTTP API listens beyond loopback", { reason: exposed });

  return {
    config,
    dimsePort: scp.port,
    dimseTlsPort: scp.tlsPort,
    httpPort: http.addr.port,
    db,
    archive,
    metrics,
    nodes: nodeOps,
    queue,
    forwarder,
    tunnel,
    reloadTls() {
      if (stopping) return false;
      return certificates.reload(scp, tunnel);
    },
    reloadConfig(load) {
      if (stopping) return Promise.resolve(false);
      return reloadConfig(
        {
          config,
          prepare: async (next) => {
            // The first node that asks for Storage Commitment: its requests are loaded before it is in force.
            if (commitmentRequests || !Object.values(next.nodes).some((n) => n.storageCommitment)) return;
            commitmentRequests = await newCommitmentRequests();
          },
          replaceRoutes: (compiled) => {
            routes = compiled;
            ingest.replaceRoutes(compiled);
            routeWindows.set(compiled);
          },
          replaceAllowedCallingAets: (aets) => scp.replaceAllowedCallingAets(aets),
          setLogLevel: (level) => log.setLevel(level),
          reconfigureDestinations: (changed) => {
            if (commitmentRequests && !forwarder.commitments) {
              forwarder.commitments = commitmentRequests;
              commitmentRequests.start();
            }
            forwarder.reconfigure(changed);
          },
          restartNotices,
        },
        load,
        log.child({ part: "config" }),
      );
    },
    async stop() {
      clearTimeout(settle);
      clearInterval(backfillTimer);
      routeWindows.stop();
      certificates.stop();
      stopping = true;
      await tunnel?.stop();
      await scp.close();
      await commitment.stop();
      await commitmentRequests?.stop();
      await backfill.run(() => false);
      await ingest.drained();
      ingest.group?.close();
      await intake.close();
      await forwarder.stop(config.queue.stopGraceSeconds * 1000);
      await retention?.stop();
      // A request still open after the grace (a node retrieve, a slow client) is cut by the exit.
      if (!(await shutdownWithin(http))) {
        log.warn("stopping: HTTP requests still open are cut", { waitedMs: HTTP_STOP_GRACE_MS });
      }
      db.close();
      // A commit that failed after Success leaves its object for the crash reconcile of the next start.
      if (!ingest.group?.failed) markCleanStop(dataDir);
      unlock();
      log.info("agent stopped");
    },
  };
}
