/**
 * The hub's HTTPS files (`tls.certFile`, `tls.keyFile`), read and checked before anything starts: a file
 * that cannot be read, a certificate or key that does not parse, or a key that is not the certificate's
 * stops the hub with the key, the file and the reason (exit code 2, like a bad configuration).
 */
import * as fs from "node:fs";
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { HubConfig } from "./config.ts";

/** A TLS file the hub cannot use; the message names the configuration key, the file and why. */
export class HubTlsError extends Error {
  override name = "HubTlsError";
}

function readPem(key: string, file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT"
      ? "no such file"
      : code === "EACCES"
      ? "permission denied"
      : code ?? "unreadable";
    throw new HubTlsError(`tls.${key}: cannot read ${file}: ${why}`);
  }
}

/** The certificate chain and key to serve HTTPS with, or none when `tls` is not set. */
export function hubTlsFiles(config: HubConfig): { cert: string; key: string } | undefined {
  if (!config.tls) return undefined;
  const { certFile, keyFile } = config.tls;
  const cert = readPem("certFile", certFile);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new HubTlsError(`tls.certFile: ${certFile} is not a PEM certificate`);
  }
  const key = readPem("keyFile", keyFile);
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new HubTlsError(`tls.keyFile: ${keyFile} is not a PEM private key`);
  }
  let matches = true;
  try {
    matches = leaf.checkPrivateKey(privateKey);
  } catch { /* the runtime cannot tell: the handshake will */ }
  if (!matches) throw new HubTlsError(`tls.keyFile: ${keyFile} is not the key of ${certFile}`);
  return { cert, key };
}
