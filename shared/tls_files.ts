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
      : code === "EISDIR"
      ? "a directory, not a file"
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

/**
 * The X.509 version of a certificate (1, 2 or 3), from its DER: the tbsCertificate opens with an explicit
 * `[0]` version unless it is version 1.
 */
export function x509Version(cert: X509Certificate): number {
  const der = cert.raw;
  let i = 0;
  const header = () => {
    i++; // the tag
    const length = der[i++];
    if (length & 0x80) i += length & 0x7f;
  };
  header(); // Certificate
  header(); // tbsCertificate
  return der[i] === 0xa0 ? der[i + 4] + 1 : 1;
}

/** A certificate that ends within this many days is a warning (`agent check`, the start's log). */
export const EXPIRY_WARN_DAYS = 30;
const DAY = 86_400_000;

/** The certificates of a PEM text, in order (a chain: the leaf first; a CA file: each CA). */
export function certificatesOf(text: string): X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

export type ValidityStatus = "ok" | "warn" | "fail";

/** How a certificate's validity reads at `now`: expired, not yet valid, ending soon, or valid until. */
export interface Validity {
  status: ValidityStatus;
  text: string;
  /** Its notAfter, in milliseconds since the epoch. */
  notAfter: number;
}

/** One certificate's validity at `now` (a warning within EXPIRY_WARN_DAYS of its end). */
export function certificateValidity(cert: X509Certificate, now: number): Validity {
  const from = new Date(cert.validFrom).getTime();
  const notAfter = new Date(cert.validTo).getTime();
  const until = new Date(notAfter).toISOString().slice(0, 10);
  if (notAfter <= now) return { status: "fail", text: `expired on ${until}`, notAfter };
  if (from > now) {
    return {
      status: "fail",
      text: `not valid before ${new Date(from).toISOString().slice(0, 10)}`,
      notAfter,
    };
  }
  const days = Math.floor((notAfter - now) / DAY);
  if (days < EXPIRY_WARN_DAYS) {
    return { status: "warn", text: `expires on ${until}, in ${days} days`, notAfter };
  }
  return { status: "ok", text: `valid until ${until}`, notAfter };
}

const RANK: Record<ValidityStatus, number> = { ok: 0, warn: 1, fail: 2 };

/**
 * The validity of a PEM file of certificates at `now`. A certificate file (`kind` certificate: the leaf and
 * its chain): its worst certificate, the first to end among equals; `notAfter` the first end of any, since a
 * chain breaks when any of it ends. A CA file: with one certificate, that one; with several, an expired one
 * is a warning while another still works, a failure when none does; `notAfter` the first end among those
 * still valid (peers whose certificates it signed fail then), or the last end when none is.
 */
export function pemValidity(text: string, kind: "certificate" | "ca", now: number): Validity {
  const certs = certificatesOf(text);
  const states = certs.map((c) => certificateValidity(c, now));
  const first = Math.min(...states.map((s) => s.notAfter));
  if (kind === "certificate" || states.length === 1) {
    const worst = states.reduce((a, b) =>
      RANK[b.status] > RANK[a.status] || (RANK[b.status] === RANK[a.status] && b.notAfter < a.notAfter)
        ? b
        : a
    );
    return { ...worst, notAfter: first };
  }
  const valid = states.filter((s) => s.status !== "fail");
  const notAfter = valid.length
    ? Math.min(...valid.map((s) => s.notAfter))
    : Math.max(...states.map((s) => s.notAfter));
  const bad = states.filter((s) => s.status !== "ok");
  if (!bad.length) return { status: "ok", text: `${certs.length} certificates, all valid`, notAfter };
  return {
    status: valid.length === 0 ? "fail" : "warn",
    text: `${bad.length} of ${certs.length} certificates: ${bad.map((s) => s.text).join("; ")}`,
    notAfter,
  };
}

/** A certificate file a process loads, judged at start: for its metric (`label`) and its log line. */
export interface CertificateExpiry {
  /** The metric's `certificate` label: which one it is (`dimse`, `hub-client`, `https`...), never a name in it. */
  label: string;
  /** The configuration key that names the file. */
  key: string;
  file: string;
  validity: Validity;
  /** The PEM text loaded, and its kind: to judge it again later. */
  text: string;
  kind: "certificate" | "ca";
}

/** The judgement of `file` (configuration key `key`), whose text is `text`. */
export function certificateExpiry(
  label: string,
  key: string,
  file: string,
  text: string,
  kind: "certificate" | "ca",
  now: number,
): CertificateExpiry {
  return { label, key, file, validity: pemValidity(text, kind, now), text, kind };
}

/**
 * At start: a warning for each certificate file that ends within EXPIRY_WARN_DAYS, an error for each that
 * has ended (or is not valid yet), with the configuration key, the file, the date and the days left; no
 * subject or serial (a certificate's names may be a person's).
 */
export function logCertificateExpiries(
  log: {
    warn(msg: string, fields?: Record<string, unknown>): void;
    error(msg: string, fields?: Record<string, unknown>): void;
  },
  expiries: Pick<CertificateExpiry, "key" | "file" | "validity">[],
  now: number,
): void {
  for (const e of expiries) {
    const { status, text, notAfter } = e.validity;
    if (status === "ok") continue;
    const fields = {
      setting: e.key,
      file: e.file,
      notAfter: new Date(notAfter).toISOString(),
      daysLeft: Math.floor((notAfter - now) / DAY),
      detail: text,
    };
    if (status === "warn") log.warn("TLS certificate ends soon: renew it", fields);
    else log.error("TLS certificate not valid: TLS handshakes that present or check it fail", fields);
  }
}

type ExpiryLog = Parameters<typeof logCertificateExpiries>[0];

/**
 * While the process runs (months, for an agent), the same judgement of what it loaded every `everyMs` (a
 * day): a certificate that comes within 30 days of its end, or ends, is logged then too, not only at the next
 * start. Returns the function that stops it; the timer does not keep the process alive.
 */
export function watchCertificateExpiries(
  log: ExpiryLog,
  expiries: CertificateExpiry[],
  everyMs = DAY,
  clock: () => number = Date.now,
): () => void {
  if (!expiries.length) return () => {};
  const timer = setInterval(() => {
    const now = clock();
    logCertificateExpiries(
      log,
      expiries.map((e) => ({ ...e, validity: pemValidity(e.text, e.kind, now) })),
      now,
    );
  }, everyMs);
  Deno.unrefTimer(timer);
  return () => clearInterval(timer);
}
