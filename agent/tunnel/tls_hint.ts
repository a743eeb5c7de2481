/**
 * Clearer words for the TLS failures towards the hub: no TLS at the address (`wss://` for a hub without it)
 * or TLS where `ws://` was given, its certificate not trusted here (`hub.caFile`) or a CA's, and the alerts
 * of a hub that asks for mutual TLS (`hub.clientCertFile`).
 */

/**
 * What to do about a TLS alert of the hub's front (the hub, or the proxy that ends TLS for it) about the
 * site's certificate: asked for one the agent has not got, refused the one it has (revoked, expired, or some
 * other reason); or about the hub's own
 * certificate, which no CA this machine trusts signed (rustls: "invalid peer certificate: UnknownIssuer"); or
 * a hub without TLS asked over TLS (rustls: "received corrupt message of type InvalidContentType").
 */
export function tlsHint(message: string, hasCert: boolean): string {
  // rustls reading a plain HTTP answer as a TLS record; OpenSSL (node:tls) says "wrong version number".
  if (/corrupt message of type InvalidContentType|wrong version number/i.test(message)) {
    return " (the hub does not answer TLS at this address: a hub without TLS takes ws:// (http://), " +
      "not wss:// (https://); or the port is not the hub's)";
  }
  // The other way round: a plain HTTP client reading the TLS hub's alert (hyper's words).
  if (/invalid HTTP version parsed/i.test(message)) {
    return " (the hub answers TLS at this address: use wss:// (https://), and hub.caFile for a private CA)";
  }
  // A self-signed certificate as `openssl req -x509` makes it by default (basicConstraints CA:TRUE), trusted
  // through hub.caFile: rustls takes no CA's certificate as a server's.
  if (/CaUsedAsEndEntity/.test(message)) {
    return " (the hub's certificate is a CA's, basicConstraints CA:TRUE, as openssl req -x509 makes by default: " +
      "give the hub one a CA signed, or a self-signed one made with -addext basicConstraints=critical,CA:FALSE)";
  }
  if (/invalid peer certificate: (unknown ?issuer|.*self[- ]signed)/i.test(message)) {
    return " (the hub's certificate is not signed by a CA this machine trusts: set hub.caFile to its CA's file)";
  }
  if (/certificate ?required|handshake ?failure/i.test(message) && !hasCert) {
    return " (the hub's TLS front asks for a client certificate: set hub.clientCertFile and hub.clientKeyFile)";
  }
  // HAProxy with a crl-file: a certificate its CRL lists (alert 44).
  if (/certificate ?revoked/i.test(message) && hasCert) {
    return " (the hub's TLS front says the site's client certificate is revoked: ask for a new one)";
  }
  // HAProxy sends the same alert (45) for every site once its CRL is past its nextUpdate.
  if (/certificate ?expired/i.test(message) && hasCert) {
    return " (the hub's TLS front says the site's client certificate has expired: check hub.clientCertFile's " +
      "end (agent check); if it has not ended, the front's revocation list (CRL) may have: tell the hub's IT)";
  }
  if (
    /bad ?certificate|unknown ?ca|certificate ?unknown|access ?denied/i.test(message) &&
    hasCert
  ) {
    return " (the hub's TLS front refused the site's client certificate, hub.clientCertFile: " +
      "signed by a CA it does not trust, or one it has no revocation list (CRL) for?)";
  }
  return "";
}
