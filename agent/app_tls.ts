/**
 * The certificates of the agent's TLS files: logged and measured at start, watched while the agent runs (one
 * that comes near its end is logged then, once a day), and read again on SIGHUP (`RunningAgent.reloadTls`).
 */
import type { Logger } from "@conduit/shared/log";
import {
  type CertificateExpiry,
  logCertificateExpiries,
  watchCertificateExpiries,
} from "@conduit/shared/tls";
import type { AgentConfig } from "./config/schema.ts";
import {
  certificateExpiries,
  hubTls,
  reloadTlsFiles,
  scpTlsMaterial,
  tlsFileEntries,
} from "./config/tls_files.ts";
import type { ScpServer } from "./dimse/scp_server.ts";
import type { AgentMetrics } from "./metrics.ts";
import type { TunnelClient } from "./tunnel/client.ts";

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

export class Certificates {
  /** The certificates followed, each by its label. */
  #expiries: CertificateExpiry[];
  #stopWatch: () => void = () => {};
  readonly #log: Logger;

  constructor(private readonly config: AgentConfig, log: Logger, private readonly metrics: AgentMetrics) {
    this.#log = log.child({ part: "tls" });
    // A certificate that ends soon, or has ended, is logged and measured; the agent starts all the same (an
    // ended DIMSE TLS certificate fails handshakes, not plain DICOM, the queue or the hub link).
    const now = Date.now();
    this.#expiries = certificateExpiries(config, now);
    logCertificateExpiries(this.#log, this.#expiries, now);
    metrics.setCertificateExpiries(this.#expiries);
  }

  /** A certificate that comes near its end while the agent runs is logged then, once a day. */
  watch(): void {
    this.#stopWatch = watchCertificateExpiries(this.#log, this.#expiries);
  }

  stop(): void {
    this.#stopWatch();
  }

  /**
   * Reads every TLS file again (SIGHUP), by group (`dimse.tls`, `hub`, each `nodes.<name>.tls`): the new
   * handshakes of a group (the DICOM over TLS port, the tunnel's next connection, the next association to
   * the node) use its files when they are valid, else the files in use are kept; logs each group either way.
   * True when every group's new files are used.
   */
  reload(scp: ScpServer, tunnel: TunnelClient | undefined): boolean {
    const now = Date.now();
    const reloads = reloadTlsFiles(this.config, now);
    // The files of nodes a configuration reload removed are no longer followed.
    const named = new Set(tlsFileEntries(this.config).map((e) => e.label));
    this.#expiries = this.#expiries.filter((e) => named.has(e.label));
    if (!reloads.length) {
      this.#log.info("TLS reload asked: nothing to reload, no TLS file is configured");
      return false;
    }
    for (const r of reloads) {
      const { reloaded, kept } = TLS_RELOAD_MESSAGES[r.group.startsWith("nodes.") ? "nodes" : r.group]!;
      if (r.error) {
        this.#log.error(kept, { setting: r.group, reason: r.error });
        continue;
      }
      // New handshakes take the files from now on: the SCP's listener, the tunnel's next connection;
      // a node's next association reads them itself (nodeTlsMaterial).
      if (r.group === "dimse.tls") scp.replaceTlsMaterial(scpTlsMaterial(this.config)!);
      if (r.group === "hub") tunnel?.setTls(hubTls(this.config));
      const labels = new Set(r.expiries.map((e) => e.label));
      this.#expiries = [...this.#expiries.filter((e) => !labels.has(e.label)), ...r.expiries];
      const first = r.expiries[0];
      this.#log.info(reloaded, {
        setting: first.key,
        file: first.file,
        notAfter: new Date(first.validity.notAfter).toISOString(),
        ...(r.expiries.length > 1 ? { also: r.expiries.slice(1).map((e) => e.key) } : {}),
      });
      logCertificateExpiries(this.#log, r.expiries, now);
    }
    this.metrics.setCertificateExpiries(this.#expiries);
    this.#stopWatch();
    this.#stopWatch = watchCertificateExpiries(this.#log, this.#expiries);
    return reloads.every((r) => !r.error);
  }
}
