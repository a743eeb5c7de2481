/**
 * Checking the PEM files a configuration names (the agent's DICOM over TLS, the hub's HTTPS) before
 * anything starts: a file that cannot be read, a certificate or key that does not parse, or a key that is
 * not the certificate's is refused with the configuration key, the file and the reason. The caller reads
 * the file (`read`): this package does no I/O.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";

/** A TLS file that cannot be used; the message names the configuration key, the file and why. */
export class TlsFileError extends Error {
  override name = "TlsFileError";
}

export type PemKind = "certificate" | "key" | "ca";

/** The text of `file` (configuration key `key`), checked to be a PEM of `kind`. */
export function checkedPem(read: (file: string) => string, key: string, file: string, kind: PemKind): string {
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT"
      ? "no such file"
      : code === "EACCES"
      ? "permission denied"
      : code ?? "unreadable";
    throw new TlsFileError(`${key}: cannot read ${file}: ${why}`);
  }
  try {
    if (kind === "key") createPrivateKey(text);
    else new X509Certificate(text);
  } catch {
    throw new TlsFileError(`${key}: ${file} is not a PEM ${kind === "key" ? "private key" : "certificate"}`);
  }
  return text;
}

/**
 * Throws unless `key` (read from `keyFile`, configuration key `keyName`) is the private key of the
 * certificate `cert` (from `certFile`); passes when the runtime cannot tell (the handshake will).
 */
export function checkKeyPair(
  cert: string,
  key: string,
  keyName: string,
  keyFile: string,
  certFile: string,
): void {
  let matches = true;
  try {
    matches = new X509Certificate(cert).checkPrivateKey(createPrivateKey(key));
  } catch { /* the runtime cannot tell */ }
  if (!matches) throw new TlsFileError(`${keyName}: ${keyFile} is not the key of ${certFile}`);
}
