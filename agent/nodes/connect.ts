/**
 * An SCU association towards a configured node, with the agent's identity and timeouts. The association
 * code and the DICOM library under it are loaded on the first one (an idle agent does without them).
 */
import type { AgentConfig, NodeConfig } from "../config/schema.ts";
import type { CommitmentReportHandler, StoreHandler } from "../dimse/handlers.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import { nodeTlsMaterial } from "../config/tls_files.ts";
import { loadPart } from "../lazy_part.ts";

export async function scuTo(
  config: AgentConfig,
  node: NodeConfig,
  storeHandler?: StoreHandler,
  /** Where a Storage Commitment report the node sends on this association goes. */
  reports?: CommitmentReportHandler,
  /** Waits shorter than the configured DIMSE timeouts (connection, negotiation, each response), in ms. */
  timeoutMs?: number,
): Promise<ScuAssociation> {
  const { ScuAssociation } = await loadPart("dimse/scu");
  return new ScuAssociation({
    callingAet: config.dimse.aet,
    node: {
      aet: node.aet,
      host: node.host,
      port: node.port,
      tls: nodeTlsMaterial(nameOf(config, node), node),
    },
    maxPduLength: config.dimse.maxPduLength,
    idleTimeoutMs: timeoutMs ?? config.dimse.idleTimeoutSeconds * 1000,
    artimTimeoutMs: timeoutMs ?? config.dimse.artimTimeoutSeconds * 1000,
    responseTimeoutMs: timeoutMs ?? config.dimse.idleTimeoutSeconds * 1000,
    asyncOps: node.maxOpsInvoked,
    performOps: node.maxOpsPerformed,
    reports,
  }, storeHandler);
}

/** The node's name in the configuration (for messages about its TLS files). */
function nameOf(config: AgentConfig, node: NodeConfig): string {
  return Object.entries(config.nodes).find(([, n]) => n === node)?.[0] ?? node.aet;
}

/**
 * C-ECHO to a configured node on an association of its own: its status and the round trip (association
 * included). Rejects with the reason (AssociationError, TlsFileError) when the node cannot be reached.
 * `timeoutMs` bounds each wait (`agent check` gives a short one); the configured timeouts otherwise.
 */
export async function echoNode(
  config: AgentConfig,
  node: NodeConfig,
  timeoutMs?: number,
): Promise<{ status: number; ms: number }> {
  const scu = await scuTo(config, node, undefined, undefined, timeoutMs);
  const t0 = performance.now();
  await scu.open({ echo: true });
  try {
    const status = await scu.echo();
    return { status, ms: Math.round(performance.now() - t0) };
  } finally {
    await scu.release();
  }
}
