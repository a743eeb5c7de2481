/**
 * The PEM files of DICOM over TLS (`dimse.tls`, `nodes.X.tls`), the hub's CA (`hub.caFile`) and the site's
 * client certificate for the hub (`hub.clientCertFile`, `hub.clientKeyFile`), read and checked at start,
 * and again on SIGHUP (`reloadTlsFiles`): at start a missing or unreadable file, a certificate or key that does not parse, or a key that is not the
 * certificate's stops the agent with the key, the file and the reason. Keys never reach a log. A certificate
 * that ends soon or has ended does not stop it (a handshake fails, as with dcm4chee and Orthanc): the start
 * logs it (`certificateExpiries`) and `conduit_agent_tls_certificate_expiry_seconds` says when each ends.
 * The texts in use are kept here: every new association and tunnel connection takes them from here.
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

/** The checked text in use of each file, by configuration key and file: read at start, replaced by a reload. */
const read = new Map<string, string>();
const cacheKey = (key: string, file: string) => `${key}\n${file}`;
const readUtf8 = (f: string) => fs.readFileSync(f, "utf8");

/** The checked text in use of `file` (configuration key `key`): read on first use, at start. */
function pem(key: string, file: string, kind: PemKind): string {
  const cached = read.get(cacheKey(key, file));
  if (cached !== undefined) return cached;
  const text = checkedPem(readUtf8, key, file, kind);
  read.set(cacheKey(key, file), text);
  return text;
}

function pair(
  certKey: string,
  keyKey: string,
  certFile: string,
  keyFile: string,
): { cert: string; key: string } {
  const cert = pem(certKey, certFile, "certificate");
  const key = pem(keyKey, keyFile, "key");
  checkKeyPair(cert, key, keyKey, keyFile, certFile);
  return { cert, key };
}

/** The SCP's TLS material, or undefined when `dimse.tls` is not set. */
export function scpTlsMaterial(config: AgentConfig): TlsServerMaterial | undefined {
  const t = config.dimse.tls;
  if (!t) return undefined;
  return {
    ...pair("dimse.tls.cert", "dimse.tls.key", t.cert, t.key),
    ca: t.ca ? pem("dimse.tls.ca", t.ca, "ca") : undefined,
    requireClientCert: t.requireClientCert,
  };
}

/** What one group of TLS files (`group` of TlsFileEntry) became on a reload. */
export interface TlsReload {
  /** The group: `dimse.tls`, `hub` or `nodes.<name>.tls`. */
  group: string;
  /** The expiries of its certificate and CA files as read again, when they are used from now on. */
  expiries: CertificateExpiry[];
  /** Why the files in use are kept: the setting, the file and the reason. */
  error?: string;
}

/**
 * Reads every TLS file the configuration names again (SIGHUP), one group at a time (`dimse.tls`, `hub`,
 * each `nodes.<name>.tls`), and checks each as at start: a file that cannot be read or is not PEM of its
 * kind, a key that is not its certificate's, and also a certificate that has ended or is not valid yet or a
 * CA file none of whose certificates is valid. A good group's texts replace those in use (what
 * `scpTlsMaterial`, `hubTls` and `nodeTlsMaterial` give from then on); a bad group keeps its own, whatever
 * the others do.
 */
export function reloadTlsFiles(config: AgentConfig, now = Date.now()): TlsReload[] {
  const groups = new Map<string, TlsFileEntry[]>();
  for (const e of tlsFileEntries(config)) groups.set(e.group, [...(groups.get(e.group) ?? []), e]);
  return [...groups].map(([group, entries]) => {
    try {
      const texts = new Map(entries.map((e) => [e.key, checkedPem(readUtf8, e.key, e.file, e.kind)]));
      const expiries: CertificateExpiry[] = [];
      for (const e of entries) {
        const text = texts.get(e.key)!;
        if (e.kind === "key" && e.cert) {
          checkKeyPair(texts.get(e.cert.key)!, text, e.key, e.file, e.cert.file);
        }
        if (e.kind === "key" || !e.label) continue;
        const expiry = certificateExpiry(e.label, e.key, e.file, text, e.kind, now);
        if (expiry.validity.status === "fail") {
          throw new TlsFileError(`${e.key}: ${e.file}: ${expiry.validity.text}`);
        }
        expiries.push(expiry);
      }
      for (const e of entries) read.set(cacheKey(e.key, e.file), texts.get(e.key)!);
      return { group, expiries };
    } catch (err) {
      if (!(err instanceof TlsFileError)) throw err;
      return { group, expiries: [], error: err.message };
    }
  });
}

/** A node's TLS material, or undefined when it is reached over plain TCP. */
export function nodeTlsMaterial(name: string, node: NodeConfig): TlsClientMaterial | undefined {
  if (!node.tls) return undefined;
  if (node.tls === true) return {};
  const prefix = `nodes.${name}.tls`;
  return {
    ca: node.tls.ca ? pem(`${prefix}.ca`, node.tls.ca, "ca") : undefined,
    ...(node.tls.cert && node.tls.key
      ? pair(`${prefix}.cert`, `${prefix}.key`, node.tls.cert, node.tls.key)
      : {}),
  };
}

/** The CA certificates `hub.caFile` adds for the hub's TLS (enrollment and the tunnel), if set. */
export function hubCaCerts(config: AgentConfig): string[] | undefined {
  return config.hub.caFile ? [pem("hub.caFile", config.hub.caFile, "ca")] : undefined;
}

/** The site's client certificate and key for the hub's TLS (`hub.clientCertFile`, `hub.clientKeyFile`), if set. */
export function hubClientCert(config: AgentConfig): { cert: string; key: string } | undefined {
  const { clientCertFile, clientKeyFile } = config.hub;
  return clientCertFile && clientKeyFile
    ? pair("hub.clientCertFile", "hub.clientKeyFile", clientCertFile, clientKeyFile)
    : undefined;
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
  /** The files reloaded, or kept, together: `dimse.tls`, `hub` or `nodes.<name>.tls`. */
  group: string;
}

/** Every PEM file the configuration names, with its configuration key. */
export function tlsFileEntries(config: AgentConfig): TlsFileEntry[] {
  const out: TlsFileEntry[] = [];
  const pair = (group: string, label: string, cert: string, key: string, certKey: string, keyKey: string) => {
    out.push({ key: certKey, file: cert, kind: "certificate", label, group });
    out.push({ key: keyKey, file: key, kind: "key", cert: { key: certKey, file: cert }, group });
  };
  const t = config.dimse.tls;
  if (t) {
    pair("dimse.tls", "dimse", t.cert, t.key, "dimse.tls.cert", "dimse.tls.key");
    if (t.ca) {
      out.push({ key: "dimse.tls.ca", file: t.ca, kind: "ca", label: "dimse-ca", group: "dimse.tls" });
    }
  }
  if (config.hub.caFile) {
    out.push({ key: "hub.caFile", file: config.hub.caFile, kind: "ca", label: "hub-ca", group: "hub" });
  }
  if (config.hub.clientCertFile && config.hub.clientKeyFile) {
    pair(
      "hub",
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
      out.push({
        key: `${prefix}.ca`,
        file: node.tls.ca,
        kind: "ca",
        label: `node-ca:${name}`,
        group: prefix,
      });
    }
    if (node.tls.cert && node.tls.key) {
      pair(prefix, `node:${name}`, node.tls.cert, node.tls.key, `${prefix}.cert`, `${prefix}.key`);
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
