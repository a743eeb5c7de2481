/**
 * The PEM files of DICOM over TLS (`dimse.tls`, `nodes.X.tls`), the hub's CA (`hub.caFile`) and the site's
 * client certificate for the hub (`hub.clientCertFile`, `hub.clientKeyFile`), read and
 * checked once at start: a
 * missing or unreadable file, a certificate or key that does not parse, or a key that is not the
 * certificate's stops the agent with the key, the file and the reason. Keys never reach a log. A certificate
 * that ends soon or has ended does not stop it (a handshake fails, as with dcm4chee and Orthanc): the start
 * logs it (`certificateExpiries`) and `conduit_agent_tls_certificate_expiry_seconds` says when each ends.
 */
import * as fs from "node:fs";
import {
  type CertificateExpiry,
  certificateExpiry,
  checkedPem,
  checkKeyPair,
  type PemKind,
  TlsFileError,
} from "@conduit/shared/tls";
import type { AgentConfig, NodeConfig } from "./schema.ts";
import type { TlsClientMaterial, TlsServerMaterial } from "../dimse/tls.ts";

export { TlsFileError } from "@conduit/shared/tls";

const read = new Map<string, string>();

/** The checked text of `file`: read once (at start), or read again with `fresh` (a reload). */
function pem(key: string, file: string, kind: PemKind, fresh = false): string {
  const cached = read.get(`${kind}:${file}`);
  if (cached !== undefined && !fresh) return cached;
  const text = checkedPem((f) => fs.readFileSync(f, "utf8"), key, file, kind);
  if (!fresh) read.set(`${kind}:${file}`, text);
  return text;
}

function pair(
  prefix: string,
  certFile: string,
  keyFile: string,
  fresh = false,
): { cert: string; key: string } {
  const cert = pem(`${prefix}.cert`, certFile, "certificate", fresh);
  const key = pem(`${prefix}.key`, keyFile, "key", fresh);
  checkKeyPair(cert, key, `${prefix}.key`, keyFile, certFile);
  return { cert, key };
}

/** The SCP's TLS material, or undefined when `dimse.tls` is not set. */
export function scpTlsMaterial(config: AgentConfig): TlsServerMaterial | undefined {
  const t = config.dimse.tls;
  if (!t) return undefined;
  return {
    ...pair("dimse.tls", t.cert, t.key),
    ca: t.ca ? pem("dimse.tls.ca", t.ca, "ca") : undefined,
    requireClientCert: t.requireClientCert,
  };
}

/**
 * The SCP's material read again from `dimse.tls.cert`, `.key` and `.ca` (SIGHUP), and the expiries that
 * follow (`loaded`: those in use; `dimse` and `dimse-ca` replaced, the others kept: their files are not read
 * again). Throws a TlsFileError naming the setting, the file and why, to keep the material in use: a file
 * that cannot be read or does not parse, a key that is not the certificate's, a certificate that has ended
 * or is not valid yet, a CA file none of whose certificates is valid.
 */
export function reloadedScpTls(
  config: AgentConfig,
  loaded: CertificateExpiry[],
  now = Date.now(),
): { material: TlsServerMaterial; expiries: CertificateExpiry[] } {
  const t = config.dimse.tls;
  if (!t) throw new TlsFileError("dimse.tls is not configured: the agent has no DICOM over TLS port");
  const { cert, key } = pair("dimse.tls", t.cert, t.key, true);
  const ca = t.ca ? pem("dimse.tls.ca", t.ca, "ca", true) : undefined;
  const renewed = [certificateExpiry("dimse", "dimse.tls.cert", t.cert, cert, "certificate", now)];
  if (t.ca && ca) renewed.push(certificateExpiry("dimse-ca", "dimse.tls.ca", t.ca, ca, "ca", now));
  for (const e of renewed) {
    if (e.validity.status === "fail") throw new TlsFileError(`${e.key}: ${e.file}: ${e.validity.text}`);
  }
  return {
    material: { cert, key, ca, requireClientCert: t.requireClientCert },
    expiries: [...loaded.filter((e) => e.label !== "dimse" && e.label !== "dimse-ca"), ...renewed],
  };
}

/** A node's TLS material, or undefined when it is reached over plain TCP. */
export function nodeTlsMaterial(name: string, node: NodeConfig): TlsClientMaterial | undefined {
  if (!node.tls) return undefined;
  if (node.tls === true) return {};
  const prefix = `nodes.${name}.tls`;
  return {
    ca: node.tls.ca ? pem(`${prefix}.ca`, node.tls.ca, "ca") : undefined,
    ...(node.tls.cert && node.tls.key ? pair(prefix, node.tls.cert, node.tls.key) : {}),
  };
}

/** The CA certificates `hub.caFile` adds for the hub's TLS (enrollment and the tunnel), if set. */
export function hubCaCerts(config: AgentConfig): string[] | undefined {
  return config.hub.caFile ? [pem("hub.caFile", config.hub.caFile, "ca")] : undefined;
}

/** The site's client certificate and key for the hub's TLS (`hub.clientCertFile`, `hub.clientKeyFile`), if set. */
export function hubClientCert(config: AgentConfig): { cert: string; key: string } | undefined {
  const { clientCertFile, clientKeyFile } = config.hub;
  return clientCertFile && clientKeyFile ? pair("hub.clientCert", clientCertFile, clientKeyFile) : undefined;
}

/** What the agent's connections to the hub (enrollment, the tunnel) present and trust beyond the system's. */
export interface HubTls {
  caCerts?: string[];
  cert?: string;
  key?: string;
}

/** `hub.caFile` and the client certificate, read and checked. */
export function hubTls(config: AgentConfig): HubTls {
  return { ...(hubCaCerts(config) ? { caCerts: hubCaCerts(config) } : {}), ...hubClientCert(config) };
}

/** Reads and checks every TLS file the configuration names; throws TlsFileError on the first bad one. */
export function checkTlsFiles(config: AgentConfig): void {
  scpTlsMaterial(config);
  hubTls(config);
  for (const [name, node] of Object.entries(config.nodes)) nodeTlsMaterial(name, node);
}

/** A PEM file the configuration names: its configuration key, what it is and, for a certificate, its label. */
export interface TlsFileEntry {
  key: string;
  file: string;
  kind: PemKind;
  /**
   * For a certificate or CA file, which one it is, for the metric's `certificate` label: `dimse`, `dimse-ca`,
   * `hub-client`, `hub-ca`, `node:<name>`, `node-ca:<name>` (bounded by the configured nodes).
   */
  label?: string;
  /** For a key: the configuration key and file of its certificate. */
  cert?: { key: string; file: string };
}

/** Every PEM file the configuration names, with its configuration key. */
export function tlsFileEntries(config: AgentConfig): TlsFileEntry[] {
  const out: TlsFileEntry[] = [];
  const pair = (label: string, cert: string, key: string, certKey: string, keyKey: string) => {
    out.push({ key: certKey, file: cert, kind: "certificate", label });
    out.push({ key: keyKey, file: key, kind: "key", cert: { key: certKey, file: cert } });
  };
  const t = config.dimse.tls;
  if (t) {
    pair("dimse", t.cert, t.key, "dimse.tls.cert", "dimse.tls.key");
    if (t.ca) out.push({ key: "dimse.tls.ca", file: t.ca, kind: "ca", label: "dimse-ca" });
  }
  if (config.hub.caFile) {
    out.push({ key: "hub.caFile", file: config.hub.caFile, kind: "ca", label: "hub-ca" });
  }
  if (config.hub.clientCertFile && config.hub.clientKeyFile) {
    pair(
      "hub-client",
      config.hub.clientCertFile,
      config.hub.clientKeyFile,
      "hub.clientCertFile",
      "hub.clientKeyFile",
    );
  }
  for (const [name, node] of Object.entries(config.nodes)) {
    if (typeof node.tls !== "object") continue;
    const prefix = `nodes.${name}.tls`;
    if (node.tls.ca) {
      out.push({ key: `${prefix}.ca`, file: node.tls.ca, kind: "ca", label: `node-ca:${name}` });
    }
    if (node.tls.cert && node.tls.key) {
      pair(`node:${name}`, node.tls.cert, node.tls.key, `${prefix}.cert`, `${prefix}.key`);
    }
  }
  return out;
}

/**
 * When each certificate and CA file the agent loaded ends, judged at `now`, from the text the agent uses
 * (read once, after `checkTlsFiles`): for the start's log and the expiry metric.
 */
export function certificateExpiries(config: AgentConfig, now = Date.now()): CertificateExpiry[] {
  return tlsFileEntries(config).flatMap((e) =>
    e.kind === "key" || !e.label
      ? []
      : [certificateExpiry(e.label, e.key, e.file, pem(e.key, e.file, e.kind), e.kind, now)]
  );
}
