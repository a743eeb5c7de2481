/**
 * DICOM over TLS (PS3.15 B.1/B.9): the SCP's TLS listener and the SCU's TLS connections.
 *
 * They use Deno's `node:tls` (rustls underneath), not `Deno.listenTls`/`Deno.connectTls`, for two
 * reasons measured on Deno 2.9.6: `Deno.listenTls` cannot request or verify a client certificate
 * (its options are cert, key and ALPN only), and a `Deno.TlsConn` has no `setNoDelay`, so Nagle's
 * algorithm held every second small write for the peer's delayed ACK (95 ms per request/response
 * round trip of two small writes, against 0.8 ms with `node:tls` and TCP_NODELAY on both ends).
 * `Deno.startTls` keeps a TCP connection's TCP_NODELAY but takes no client certificate.
 *
 * What cannot be configured: the cipher suites. Neither API takes a list (`node:tls` ignores
 * `ciphers`); rustls offers TLS 1.3 (AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305) and TLS 1.2
 * ECDHE with AES-128-GCM, AES-256-GCM and CHACHA20-POLY1305 (ECDSA or RSA by the certificate), and
 * nothing older: no TLS 1.0/1.1, no CBC, no static RSA, no DHE. These are AEAD suites with forward
 * secrecy; the two BCP 195 (RFC 9325 §4.2) recommends for TLS 1.2 with RSA certificates,
 * TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 and TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, are among them.
 */
import tls from "node:tls";
import { isIP } from "node:net";
import { collectEvery, type WireSocket } from "./deno_socket.ts";

/** The SCP's TLS settings, with the PEM texts already read. */
export interface TlsServerMaterial {
  cert: string;
  key: string;
  /** CA certificates that client certificates must chain to (with `requireClientCert`). */
  ca?: string;
  /** Refuse a client that presents no certificate, or one not issued by `ca`. */
  requireClientCert: boolean;
}

/** An SCU's TLS settings towards one node, with the PEM texts already read. */
export interface TlsClientMaterial {
  /** CA certificates the node's certificate must chain to; the runtime's roots when absent. */
  ca?: string;
  /** Our client certificate and key, for nodes that ask for one. */
  cert?: string;
  key?: string;
}

const MIN_VERSION = "TLSv1.2";

/** Prepares an accepted or connected TLS socket for DIMSE: TCP_NODELAY, and the periodic GC. */
function prepare(socket: tls.TLSSocket): WireSocket {
  socket.setNoDelay(true);
  socket.on("data", (chunk: Uint8Array) => collectEvery(chunk.length));
  return socket as unknown as WireSocket;
}

/** A DICOM over TLS listener. */
export interface TlsListener {
  port: number;
  /**
   * Handshakes from now on use this certificate, key and CA (`server.setSecureContext()`); connections
   * already open keep theirs. `requireClientCert` stays as the listener started. The caller checks the
   * material first: a key that is not the certificate's is taken here and fails every handshake.
   */
  setMaterial(material: Omit<TlsServerMaterial, "requireClientCert">): void;
  close(): void;
}

/**
 * Listens for DICOM over TLS; `onConnection` gets each connection once its handshake has succeeded,
 * `onRefused` hears why a handshake failed (no client certificate, an untrusted one, not TLS...).
 */
export function listenTls(
  options: { hostname: string; port: number; material: TlsServerMaterial; handshakeTimeoutMs: number },
  onConnection: (socket: WireSocket) => void,
  onRefused: (reason: string, remoteAddress: string | undefined) => void,
): Promise<TlsListener> {
  const m = options.material;
  const server = tls.createServer({
    cert: m.cert,
    key: m.key,
    ca: m.ca,
    requestCert: m.requireClientCert,
    rejectUnauthorized: m.requireClientCert,
    minVersion: MIN_VERSION,
    handshakeTimeout: options.handshakeTimeoutMs,
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    try {
      onConnection(prepare(socket));
    } catch {
      socket.destroy();
    }
  });
  server.on("tlsClientError", (err: Error, socket: tls.TLSSocket) => {
    try {
      onRefused(err?.message ?? "TLS handshake failed", socket?.remoteAddress);
    } finally {
      socket?.destroy();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname, () => {
      server.off("error", reject);
      server.on("error", () => {/* a failing connection: reported through tlsClientError */});
      const address = server.address();
      resolve({
        port: typeof address === "object" && address ? address.port : options.port,
        setMaterial: (m) => server.setSecureContext({ cert: m.cert, key: m.key, ca: m.ca }),
        close: () => server.close(),
      });
    });
  });
}

/**
 * Connects over TLS, checking the node's certificate against `ca` (or the runtime's roots) and its
 * name or IP address against `host`. Like a TCP socket it emits `connect` (what is written before the
 * handshake has finished waits for it), then `error` and `close` if the handshake fails.
 */
export function connectTls(host: string, port: number, material: TlsClientMaterial): WireSocket {
  const socket = tls.connect({
    host,
    port,
    servername: isIP(host) ? undefined : host,
    ca: material.ca,
    cert: material.cert,
    key: material.key,
    minVersion: MIN_VERSION,
    rejectUnauthorized: true,
  });
  socket.setNoDelay(true); // for the handshake too
  socket.once("secureConnect", () => prepare(socket));
  return socket as unknown as WireSocket;
}
