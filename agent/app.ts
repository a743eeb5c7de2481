/**
 * Wires one agent together: archive and index, the DIMSE SCP over them, the loopback HTTP API.
 * Everything is passed down from the validated configuration; nothing reads globals.
 */
import * as fs from "node:fs";
import { dataDirError, NOT_A_DIRECTORY } from "@conduit/shared/data-dir";
import { listenHint } from "@conduit/shared/listen";
import { RestartNotices } from "@conduit/shared/config-diff";
import * as path from "node:path";
import { hashUid, type Logger } from "@conduit/shared/log";
import { logCertificateExpiries, watchCertificateExpiries } from "@conduit/shared/tls";
import { HTTP_STOP_GRACE_MS, shutdownWithin } from "@conduit/shared/process";
import type { AgentConfig } from "./config/schema.ts";
import type { Archive } from "./archive/archive.ts";
import { FileArchive } from "./archive/file_archive.ts";
import { lockDataDir } from "./archive/lock.ts";
import { diskSpace } from "./archive/disk_space.ts";
import { Retention, type RetentionPolicy } from "./forward/retention.ts";
import { markCleanStop, reconcileAfterCrash, recoverIntake } from "./ingest/recover.ts";
import { Intake } from "./ingest/intake.ts";
import { Ingest } from "./ingest/ingest.ts";
import { HashBackfill } from "./ingest/backfill.ts";
import { Database } from "./index/db.ts";
import { archiveTotals } from "./index/totals.ts";
import { lazyQueryHandler } from "./query/lazy.ts";
import { IndexRetrieveHandler } from "./retrieve/locate.ts";
import { announceImplementation } from "./dimse/identity.ts";
import { registerPixelDecoder } from "./dimse/pixel_decoder.ts";
import { canTranscode, transcodeObject } from "./transcode/mod.ts";
import { memorySource } from "./part10/source.ts";
import { TransferSyntax } from "@conduit/shared/dicom";
import { type ScpServer, startScp } from "./dimse/scp_server.ts";
import { releaseMemory } from "./dimse/deno_socket.ts";
import {
  certificateExpiries,
  checkTlsFiles,
  hubTls,
  nodeTlsMaterial,
  reloadTlsFiles,
  scpTlsMaterial,
  tlsFileEntries,
} from "./config/tls_files.ts";
import type { NodeAddress } from "./dimse/handlers.ts";
import { AgentMetrics } from "./metrics.ts";
import { httpApp } from "./http/server.ts";
import { nodeRoutes } from "./http/nodes.ts";
import { NodeOperations } from "./nodes/operations.ts";
import { LazyStorageCommitment } from "./commitment/lazy.ts";
import type { CommitmentRequests } from "./forward/commitment_requests.ts";
import { compileRoutes } from "./routing/rules.ts";
import { reloadConfig } from "./reload.ts";
import { loadProfile } from "./deid/load_profile.ts";
import { Queue } from "./queue/queue.ts";
import { Forwarder } from "./forward/forwarder.ts";
import { DeidStage } from "./forward/deid_stage.ts";
import { stageSettings } from "./forward/stage_settings.ts";
import { Copies } from "./queue/copies.ts";
import { KeyFileError, loadKeyFile } from "./config/key_file.ts";
import { queueRoutes } from "./http/queue.ts";
import { conflictsRoutes } from "./http/conflicts.ts";
import { eraseRoutes } from "./http/erase.ts";
import { Eraser } from "./erase/erase.ts";
import { ConflictResolver } from "./ingest/resolve.ts";
import { VERSION } from "./version.ts";
import type { SiteServices } from "./serve/serve.ts";
import type { Renderer } from "./render/mod.ts";
import type { TunnelClient } from "./tunnel/client.ts";
import { loadPart } from "./lazy_part.ts";

/** What a reload logs for each group of TLS files (agent/config/tls_files.ts, `reloadTlsFiles`). */
const TLS_RELOAD_MESSAGES: Record<string, { reloaded: string; kept: string }> = {
  "dimse.tls": {
    reloaded: "DICOM over TLS files reloaded: new associations use them, open ones go on",
    kept: "DICOM over TLS files not reloaded: the agent keeps using the ones it had",
  },
  hub: {
    reloaded: "hub TLS files reloaded: the tunnel's next connection uses them, the open one goes on",
    kept: "hub TLS files not reloaded: the tunnel keeps using the ones it had",
  },
  nodes: {
    reloaded: "node TLS files reloaded: new associations to the node use them, open ones go on",
    kept: "node TLS files not reloaded: associations to the node keep using the ones it had",
  },
};

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
  // The profile table is loaded only when a route de-identifies (a transfer's stage loads it when asked).
  if (config.routes.some((r) => r.deid)) await loadProfile();
  compileRoutes(config); // a bad route stops here, before anything is opened (RouteConfigError)
  siteKey(config); // and an unusable site key (KeyFileError)
  checkTlsFiles(config); // and a TLS file that cannot be read or used (TlsFileError)
  const dataDir = path.resolve(config.data);
  try {
    fs.mkdirSync(dataDir, { recursive: true });
    if (!fs.statSync(dataDir).isDirectory()) throw NOT_A_DIRECTORY;
    fs.accessSync(dataDir, fs.constants.W_OK | fs.constants.X_OK);
  } catch (err) {
    throw dataDirError(dataDir, err, "CONDUIT_AGENT_DATA");
  }
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
  const db = await Database.open(path.join(dataDir, "agent.db"), { durable: config.dimse.sync });
  const intake = new Intake(dataDir, config.dimse.sync);
  const partial = intake.prepare();
  if (partial) log.info("removed partial objects left in the intake by an earlier run", { count: partial });
  const metrics = new AgentMetrics();
  // A certificate that ends soon, or has ended, is logged and measured; the agent starts all the same (an
  // ended DIMSE TLS certificate fails handshakes, not plain DICOM, the queue or the hub link).
  const now = Date.now();
  let expiries = certificateExpiries(config, now);
  logCertificateExpiries(log.child({ part: "tls" }), expiries, now);
  metrics.setCertificateExpiries(expiries);

  announceImplementation(config.dimse.maxPduLength);
  // Compressed objects go decoded to a peer that takes none of their syntax (conformance, section 5).
  registerPixelDecoder({
    canDecode: (ts) => canTranscode(ts, TransferSyntax.ExplicitVRLittleEndian),
    decode: (part10, from) =>
      transcodeObject(memorySource(part10), from, TransferSyntax.ExplicitVRLittleEndian),
  });

  const nodes = (): NodeAddress[] =>
    Object.entries(config.nodes).map(([name, n]) => ({
      aet: n.aet,
      host: n.host,
      port: n.port,
      tls: nodeTlsMaterial(name, n),
      maxOpsInvoked: n.maxOpsInvoked,
    }));
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
      onCommitted: metrics.onGroupCommitted,
    },
  });
  // Readers of what is archived wait for the group commit of objects already answered Success.
  if (ingest.group) db.waitFor(() => ingest.settled());
  const eraser = new Eraser(db, archive, dataDir, log.child({ part: "erase" }), (fn) => ingest.exclusive(fn));
  // Before the crash reconcile, which would index again a file an interrupted erasure had not removed yet.
  await eraser.finish();
  // Before any work is accepted: what a crash left between Success and the group commit is committed.
  const reconciled = await reconcileAfterCrash(db, archive, dataDir, ingest, log);
  if (reconciled.restored) {
    log.warn("started on an index restored from a backup: archive and index reconciled", {
      missing: reconciled.missing,
      indexed: reconciled.indexed,
      removed: reconciled.removed,
      conflicts: reconciled.conflicts,
    });
  } else if (reconciled.removed || reconciled.indexed || reconciled.conflicts) {
    log.warn("archive files the index did not know, left by a crash: indexed, or removed when superseded", {
      indexed: reconciled.indexed,
      removed: reconciled.removed,
      conflicts: reconciled.conflicts,
    });
  }
  // Conflict resolutions a crash left under way are finished before anything reads the archive.
  // CONDUIT_TEST_RESOLVE_STOP: crash tests stop a resolution at a step, to kill the agent there.
  const stopAt = Deno.env.get("CONDUIT_TEST_RESOLVE_STOP");
  const resolver = new ConflictResolver({
    db,
    archive,
    ingest,
    log: log.child({ part: "conflicts" }),
    stopAt: stopAt === "begun" || stopAt === "moved" ? stopAt : undefined,
  });
  const finished = await resolver.finishUnderWay();
  if (finished) log.warn("conflict resolutions a stop interrupted were finished", { finished });
  const recovered = await recoverIntake(ingest, intake, log);
  if (recovered.committed || recovered.failed) {
    log.info("committed objects answered Success before a stop", recovered);
  }

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
    scp = await startScp({
      host: config.dimse.host,
      port: config.dimse.port,
      tls: scpTls && config.dimse.tls ? { port: config.dimse.tls.port, material: scpTls } : undefined,
      aet: config.dimse.aet,
      allowedCallingAets: config.dimse.allowedCallingAets,
      checkCalledAet: config.dimse.checkCalledAet,
      maxAssociations: config.dimse.maxAssociations,
      acceptAnySopClass: config.dimse.acceptAnySopClass,
      maxOpsPerformed: config.dimse.maxOpsPerformed,
      maxOpsInvoked: config.dimse.maxOpsInvoked,
      maxPduLength: config.dimse.maxPduLength,
      idleTimeoutMs: config.dimse.idleTimeoutSeconds * 1000,
      artimTimeoutMs: config.dimse.artimTimeoutSeconds * 1000,
      parts: { scp: () => loadPart("dimse/scp"), tls: () => loadPart("dimse/tls") },
      store: ingest,
      query: archiveQuery,
      retrieve: new IndexRetrieveHandler(db, archive, nodes),
      commitment,
      // Without a node that asks for Storage Commitment, a report answers no request of ours: Success, ignored.
      commitmentReports: {
        received: (report, from) =>
          commitmentRequests ? commitmentRequests.received(report, from) : Promise.resolve(
            log.info("storage commitment report for no open request ignored", {
              part: "forward-commitment",
              transaction: hashUid(report.transactionUid),
              from: from.callingAet,
            }),
          ),
      },
      log: log.child({ part: "dimse" }),
      onEvent: metrics.onDimseEvent,
      onIdle: fillHashes,
    });
  } catch (err) {
    db.close();
    const message = (err as Error).message;
    throw new Error(
      message.startsWith("cannot listen")
        ? `${message}${listenHint(err, "dimse.tls.port")}`
        : `cannot listen for DICOM on ${config.dimse.host}:${config.dimse.port}: ${message}` +
          listenHint(err, "dimse.port (--port, CONDUIT_AGENT_PORT)"),
    );
  }
  metrics.activeSource = () => scp.activeAssociations();
  metrics.tunnelStreamsSource = () => tunnel?.session?.streamCount ?? 0;
  // Reports an earlier run left undelivered go out on new associations.
  commitment.start();

  // Commits that keep failing (a full disk, an index that cannot be written) refuse every C-STORE.
  const databaseOk = async () => !ingest.group?.blocked && await db.healthy();
  const minFreeBytes = config.archive.minFreeMegabytes * 1024 * 1024;
  metrics.diskSource = () => diskSpace(dataDir);
  metrics.diskFloorBytes = minFreeBytes;
  metrics.healthSource = async () => ({
    database: await databaseOk().catch(() => false),
    disk: !minFreeBytes || archive.freeBytes() >= minFreeBytes,
    ...(config.hub.url ? { hub: tunnel?.state === "online" } : {}),
  });
  const app = httpApp({
    version: VERSION,
    startedAt: Date.now(),
    archiveSize: async () => (await archiveTotals(db)).bytes,
    databaseOk,
    freeBytes: () => archive.freeBytes(),
    minFreeBytes,
    hub: () => config.hub.url ? tunnel?.state ?? "not enrolled" : undefined,
    metrics: () => metrics.text(),
    contentType: metrics.registry.contentType,
    nodes: nodeRoutes(nodeOps),
    queue: queueRoutes(queue, forwarder),
    conflicts: conflictsRoutes(db, resolver),
    erase: eraseRoutes(eraser),
    log: log.child({ part: "http" }),
  });
  let http: Deno.HttpServer<Deno.NetAddr>;
  try {
    http = Deno.serve({ hostname: config.http.host, port: config.http.port, onListen: () => {} }, app.fetch);
  } catch (err) {
    await scp.close();
    db.close();
    throw new Error(
      `cannot listen for HTTP on ${config.http.host}:${config.http.port}: ${(err as Error).message}` +
        listenHint(err, "http.port (--http-port, CONDUIT_AGENT_HTTP_PORT)"),
    );
  }

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
  const tunnelLog = log.child({ part: "tunnel" });
  try {
    if (config.hub.url) {
      // The tunnel and what it serves are loaded only when a hub is configured (issue 16: idle RSS).
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
        agentVersion: VERSION,
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
      tunnel = startTunnel(config, dataDir, {
        agentVersion: VERSION,
        serve: (request, channel) => serveRequest(site, request, channel),
      }, tunnelLog);
    }
  } catch (err) {
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
  // A certificate that comes near its end while the agent runs is logged then, once a day.
  const tlsLog = log.child({ part: "tls" });
  let stopCertificateWatch = watchCertificateExpiries(tlsLog, expiries);
  log.info("agent started", {
    version: VERSION,
    aet: config.dimse.aet,
    dimse: `${config.dimse.host}:${scp.port}`,
    ...(scp.tlsPort ? { dimseTls: `${config.dimse.host}:${scp.tlsPort}` } : {}),
    http: `${config.http.host}:${http.addr.port}`,
  });

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
      const now = Date.now();
      const reloads = reloadTlsFiles(config, now);
      // The files of nodes a configuration reload removed are no longer followed.
      const named = new Set(tlsFileEntries(config).map((e) => e.label));
      expiries = expiries.filter((e) => named.has(e.label));
      if (!reloads.length) {
        tlsLog.info("TLS reload asked: nothing to reload, no TLS file is configured");
        return false;
      }
      for (const r of reloads) {
        const { reloaded, kept } = TLS_RELOAD_MESSAGES[r.group.startsWith("nodes.") ? "nodes" : r.group]!;
        if (r.error) {
          tlsLog.error(kept, { setting: r.group, reason: r.error });
          continue;
        }
        // New handshakes take the files from now on: the SCP's listener, the tunnel's next connection;
        // a node's next association reads them itself (nodeTlsMaterial).
        if (r.group === "dimse.tls") scp.replaceTlsMaterial(scpTlsMaterial(config)!);
        if (r.group === "hub") tunnel?.setTls(hubTls(config));
        const labels = new Set(r.expiries.map((e) => e.label));
        expiries = [...expiries.filter((e) => !labels.has(e.label)), ...r.expiries];
        const first = r.expiries[0];
        tlsLog.info(reloaded, {
          setting: first.key,
          file: first.file,
          notAfter: new Date(first.validity.notAfter).toISOString(),
          ...(r.expiries.length > 1 ? { also: r.expiries.slice(1).map((e) => e.key) } : {}),
        });
        logCertificateExpiries(tlsLog, r.expiries, now);
      }
      metrics.setCertificateExpiries(expiries);
      stopCertificateWatch();
      stopCertificateWatch = watchCertificateExpiries(tlsLog, expiries);
      return reloads.every((r) => !r.error);
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
      stopCertificateWatch();
      stopping = true;
      await tunnel?.stop();
      await scp.close();
      await commitment.stop();
      await commitmentRequests?.stop();
      await backfill.run(() => false);
      await ingest.drained();
      ingest.group?.close();
      await intake.close();
      await forwarder.stop();
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

/** The site's de-identification key (`deid.keyFile`), if configured; throws KeyFileError naming the key. */
function siteKey(config: AgentConfig): Uint8Array | undefined {
  if (!config.deid.keyFile) return undefined;
  try {
    return loadKeyFile(config.deid.keyFile);
  } catch (err) {
    if (err instanceof KeyFileError) throw new KeyFileError(`deid.keyFile: ${err.message}`);
    throw err;
  }
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
