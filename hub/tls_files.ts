/**
 * The hub's HTTPS files (`tls.certFile`, `tls.keyFile`) and the CA it trusts for other hubs of its cluster
 * (`clusterCaFile`), read and checked before anything starts, and again on SIGHUP
 * (`@conduit/shared/tls`): a file that cannot be read, a certificate or key that does not parse, or a key
 * that is not the certificate's stops the hub with the key, the file and the reason (exit code 2, like a
 * bad configuration). A certificate that ends soon or has ended does not stop it: the start logs it
 * (`hubCertificateExpiries`) and `conduit_hub_tls_certificate_expiry_seconds` says when each ends.
 */
import * as fs from "node:fs";
import { X509Certificate } from "node:crypto";
import {
  type CertificateExpiry,
  certificateExpiry,
  checkedPem,
  checkKeyPair,
  TlsFileError,
  x509Version,
} from "@conduit/shared/tls";
import type { HubConfig } from "./config.ts";

export { TlsFileError as HubTlsError } from "@conduit/shared/tls";

const read = (file: string) => fs.readFileSync(file, "utf8");

/** The certificate chain and key to serve HTTPS with, or none when `tls` is not set. */
export function hubTlsFiles(config: HubConfig): { cert: string; key: string } | undefined {
  if (!config.tls) return undefined;
  const { certFile, keyFile } = config.tls;
  const cert = checkedPem(read, "tls.certFile", certFile, "certificate");
  // The runtime's TLS (rustls) refuses it when the hub listens, as "invalid peer certificate:
  // UnsupportedCertVersion" under "cannot listen on": say what it is, and what to do, here instead.
  if (x509Version(new X509Certificate(cert)) === 1) {
    throw new TlsFileError(
      `tls.certFile: ${certFile} is an X.509 version 1 certificate, which the hub's TLS (rustls) does not ` +
        "take: issue a version 3 one, with subjectAltName naming the hub's host names",
    );
  }
  const key = checkedPem(read, "tls.keyFile", keyFile, "key");
  checkKeyPair(cert, key, "tls.keyFile", keyFile, certFile);
  return { cert, key };
}

/**
 * The pair to serve from now on, when `tls.certFile` and `tls.keyFile` are read again (SIGHUP), and the
 * expiries that follow (`loaded`: those in use, whose `cluster-ca` stays: `reloadedClusterCa` reads that file).
 * Throws a TlsFileError naming the file and why, to keep the pair in use: a file that cannot be read or does
 * not parse, a key that is not the certificate's, a version 1 certificate, or one that has ended or is not
 * valid yet.
 */
export function reloadedHubTls(
  config: HubConfig,
  loaded: CertificateExpiry[],
  now = Date.now(),
): { pair: { cert: string; key: string }; expiries: CertificateExpiry[] } {
  const pair = hubTlsFiles(config);
  if (!pair || !config.tls) throw new TlsFileError("tls is not configured: the hub serves plain HTTP");
  const https = certificateExpiry(
    "https",
    "tls.certFile",
    config.tls.certFile,
    pair.cert,
    "certificate",
    now,
  );
  if (https.validity.status === "fail") {
    throw new TlsFileError(`tls.certFile: ${config.tls.certFile}: ${https.validity.text}`);
  }
  return { pair, expiries: [https, ...loaded.filter((e) => e.label !== "https")] };
}

/** The CA certificates `clusterCaFile` adds for other hubs' https cluster URLs, or none when not set. */
export function clusterCaCerts(config: HubConfig): string[] | undefined {
  return config.clusterCaFile ? [checkedPem(read, "clusterCaFile", config.clusterCaFile, "ca")] : undefined;
}

/**
 * The CA certificates to trust from now on for other hubs, when `clusterCaFile` is read again (SIGHUP), and
 * its expiry. Throws a TlsFileError naming the file and why, to keep the CA in use: a file that cannot be
 * read or holds no PEM certificate, or none of whose certificates is valid now.
 */
export function reloadedClusterCa(
  config: HubConfig,
  now = Date.now(),
): { caCerts: string[]; expiry: CertificateExpiry } {
  if (!config.clusterCaFile) throw new TlsFileError("clusterCaFile is not configured");
  const text = checkedPem(read, "clusterCaFile", config.clusterCaFile, "ca");
  const expiry = certificateExpiry("cluster-ca", "clusterCaFile", config.clusterCaFile, text, "ca", now);
  if (expiry.validity.status === "fail") {
    throw new TlsFileError(`clusterCaFile: ${config.clusterCaFile}: ${expiry.validity.text}`);
  }
  return { caCerts: [text], expiry };
}

/**
 * When the hub's certificate (`https`: `tls.certFile`) and its cluster CA (`cluster-ca`: `clusterCaFile`)
 * end, judged at `now`, for the start's log and the expiry metric.
 */
export function hubCertificateExpiries(config: HubConfig, now = Date.now()): CertificateExpiry[] {
  const out: CertificateExpiry[] = [];
  if (config.tls) {
    const text = checkedPem(read, "tls.certFile", config.tls.certFile, "certificate");
    out.push(certificateExpiry("https", "tls.certFile", config.tls.certFile, text, "certificate", now));
  }
  if (config.clusterCaFile) {
    const text = checkedPem(read, "clusterCaFile", config.clusterCaFile, "ca");
    out.push(certificateExpiry("cluster-ca", "clusterCaFile", config.clusterCaFile, text, "ca", now));
  }
  return out;
}
