/**
 * An SCU association towards a configured node, with the agent's identity and timeouts. The association
 * code and the DICOM library under it are loaded on the first one (an idle agent does without them).
 */
import type { AgentConfig, NodeConfig } from "../config/schema.ts";
import type { CommitmentReportHandler, StoreHandler } from "../dimse/handlers.ts";
import type { ScuAssociation } from "../dimse/scu.ts";
import { nodeTlsMaterial } from "../config/tls_files.ts";

export async function scuTo(
  config: AgentConfig,
  node: NodeConfig,
  storeHandler?: StoreHandler,
  /** Where a Storage Commitment report the node sends on this association goes. */
  reports?: CommitmentReportHandler,
): Promise<ScuAssociation> {
  const { ScuAssociation } = await import("../dimse/scu.ts");
  return new ScuAssociation({
    callingAet: config.dimse.aet,
    node: {
      aet: node.aet,
      host: node.host,
      port: node.port,
      tls: nodeTlsMaterial(nameOf(config, node), node),
    },
    maxPduLength: config.dimse.maxPduLength,
    idleTimeoutMs: config.dimse.idleTimeoutSeconds * 1000,
    artimTimeoutMs: config.dimse.artimTimeoutSeconds * 1000,
    responseTimeoutMs: config.dimse.idleTimeoutSeconds * 1000,
    asyncOps: node.maxOpsInvoked,
    performOps: node.maxOpsPerformed,
    reports,
  }, storeHandler);
}

/** The node's name in the configuration (for messages about its TLS files). */
function nameOf(config: AgentConfig, node: NodeConfig): string {
  return Object.entries(config.nodes).find(([, n]) => n === node)?.[0] ?? node.aet;
}
