/**
 * The agent's DICOM side: the SCP (and its DICOM over TLS port) over the handlers the agent gives it, the
 * ingest for C-STORE, the index for C-FIND and retrieval, Storage Commitment, and the reports of the
 * commitments it asked nodes for. The wire code stays in agent/dimse/; this only says which handler answers.
 */
import { hashUid, type Logger } from "@conduit/shared/log";
import { listenHint } from "@conduit/shared/listen";
import type { AgentConfig } from "./config/schema.ts";
import { nodeTlsMaterial } from "./config/tls_files.ts";
import type { Archive } from "./archive/archive.ts";
import type { Database } from "./index/db.ts";
import type { Ingest } from "./ingest/ingest.ts";
import { IndexRetrieveHandler } from "./retrieve/locate.ts";
import type { NodeAddress, QueryHandler } from "./dimse/handlers.ts";
import { type ScpServer, startScp } from "./dimse/scp_server.ts";
import type { TlsServerMaterial } from "./dimse/tls.ts";
import type { LazyStorageCommitment } from "./commitment/lazy.ts";
import type { CommitmentRequests } from "./forward/commitment_requests.ts";
import type { AgentMetrics } from "./metrics.ts";
import { loadPart } from "./lazy_part.ts";
import type { DescriptorBudget } from "./descriptors.ts";

/** What the SCP answers with. */
export interface DimseHandlers {
  config: AgentConfig;
  /** The DICOM over TLS port's material (`dimse.tls`), read at start. */
  scpTls: TlsServerMaterial | undefined;
  db: Database;
  archive: Archive;
  ingest: Ingest;
  archiveQuery: QueryHandler;
  commitment: LazyStorageCommitment;
  /** The Storage Commitment requests in force, if a node asks for it (a reload can add them). */
  requests: () => CommitmentRequests | undefined;
  log: Logger;
  metrics: AgentMetrics;
  /** Called when the SCP falls idle (the hash backfill). */
  onIdle: () => void;
  /** The file descriptors the DICOM ports may take (agent/descriptors.ts). */
  descriptors: DescriptorBudget;
}

/** Starts the SCP; throws an error that names the setting when it cannot listen. */
export async function startDimse(
  {
    config,
    scpTls,
    db,
    archive,
    ingest,
    archiveQuery,
    commitment,
    requests,
    log,
    metrics,
    onIdle,
    descriptors,
  }: DimseHandlers,
): Promise<ScpServer> {
  const nodes = (): NodeAddress[] =>
    Object.entries(config.nodes).map(([name, n]) => ({
      aet: n.aet,
      host: n.host,
      port: n.port,
      tls: nodeTlsMaterial(name, n),
      maxOpsInvoked: n.maxOpsInvoked,
    }));
  try {
    return await startScp({
      host: config.dimse.host,
      port: config.dimse.port,
      tls: scpTls && config.dimse.tls ? { port: config.dimse.tls.port, material: scpTls } : undefined,
      aet: config.dimse.aet,
      allowedCallingAets: config.dimse.allowedCallingAets,
      nodeOfCaller: (aet) => Object.entries(config.nodes).find(([, n]) => n.aet === aet)?.[0],
      checkCalledAet: config.dimse.checkCalledAet,
      maxAssociations: config.dimse.maxAssociations,
      associationLimit: () => descriptors.associations(),
      connectionLimit: () => descriptors.connections(),
      acceptAnySopClass: config.dimse.acceptAnySopClass,
      maxOpsPerformed: config.dimse.maxOpsPerformed,
      maxOpsInvoked: config.dimse.maxOpsInvoked,
      maxPduLength: config.dimse.maxPduLength,
      idleTimeoutMs: config.dimse.idleTimeoutSeconds * 1000,
      artimTimeoutMs: config.dimse.artimTimeoutSeconds * 1000,
      firstByteTimeoutMs: config.dimse.firstByteTimeoutSeconds * 1000,
      parts: { scp: () => loadPart("dimse/scp"), tls: () => loadPart("dimse/tls") },
      store: ingest,
      query: archiveQuery,
      retrieve: new IndexRetrieveHandler(db, archive, nodes),
      commitment,
      // Without a node that asks for Storage Commitment, a report answers no request of ours: Success, ignored.
      commitmentReports: {
        received: (report, from) => {
          const commitmentRequests = requests();
          return commitmentRequests ? commitmentRequests.received(report, from) : Promise.resolve(
            log.info("storage commitment report for no open request ignored", {
              part: "forward-commitment",
              transaction: hashUid(report.transactionUid),
              from: from.callingAet,
            }),
          );
        },
      },
      log: log.child({ part: "dimse" }),
      onEvent: metrics.onDimseEvent,
      onIdle,
    });
  } catch (err) {
    const message = (err as Error).message;
    throw new Error(
      message.startsWith("cannot listen")
        ? `${message}${listenHint(err, "dimse.tls.port")}`
        : `cannot listen for DICOM on ${config.dimse.host}:${config.dimse.port}: ${message}` +
          listenHint(err, "dimse.port (--port, CONDUIT_AGENT_PORT)"),
    );
  }
}
