/**
 * Why the SCP refused a client certificate, in words a site's IT can act on. The TLS library's own
 * rejection (rustls under Deno's `node:tls`) reaches the server only as "socket hang up" for an untrusted,
 * expired or not yet valid certificate alike, and its `authorizationError` after a completed handshake is
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE` for all three; so the listener lets the handshake finish, refuses an
 * unauthorized client before reading a byte of it, and says why from the certificate itself.
 */
import { X509Certificate } from "node:crypto";

/** The certificates of a PEM text (a CA bundle), those that parse. */
function certificatesOf(pem: string | undefined): X509Certificate[] {
  const blocks = pem?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      return [new X509Certificate(block)];
    } catch {
      return [];
    }
  });
}

const day = (date: string) => new Date(Date.parse(date)).toISOString().replace(/\.000Z$/, "Z");

/**
 * Why a client's certificate (DER, as the peer sent it) is refused against the CA bundle `caPem`: none
 * sent, expired or not yet valid (its dates first: they say it whoever issued it), issued by no CA of
 * the bundle, or else the TLS library's code.
 */
export function clientCertProblem(
  der: Uint8Array | undefined,
  caPem: string | undefined,
  now: number,
  code?: string | null,
): string {
  if (!der?.length) return "the client sent no certificate";
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return `the client's certificate could not be read${code ? ` (${code})` : ""}`;
  }
  const who = `the client's certificate "${cert.subject.replaceAll("\n", ", ")}"`;
  if (now < Date.parse(cert.validFrom)) return `${who} is not valid before ${day(cert.validFrom)}`;
  if (now > Date.parse(cert.validTo)) return `${who} expired ${day(cert.validTo)}`;
  const issued = certificatesOf(caPem).some((ca) => {
    try {
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    } catch {
      return false;
    }
  });
  if (!issued) {
    return `${who} was issued by "${cert.issuer.replaceAll("\n", ", ")}", not by a CA of dimse.tls.ca`;
  }
  return `${who} is not trusted${code ? ` (${code})` : ""}`;
}
