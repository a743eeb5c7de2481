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
import { isIP, type Socket } from "node:net";
import { type AcceptHooks, collectEvery, type WireSocket } from "./deno_socket.ts";
import { readAcceptQueue } from "./_listen_queue.ts";
import { clientCertProblem } from "./tls_refusal.ts";

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

/**
 * The peer's address of a TLS socket: before its handshake completed it is only on the TCP socket under it
 * (`_parent`, Deno 2.9.6 as Node), which was logged as "" for every refused handshake until 2026-12-08.
 */
function remoteOf(socket: tls.TLSSocket | undefined): string | undefined {
  return socket?.remoteAddress ??
    (socket as unknown as { _parent?: { remoteAddress?: string } } | undefined)?._parent?.remoteAddress;
}

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

/** How often the listener looks for connections waiting that it does not accept, and how many looks in a row. */
const STUCK_CHECK_MS = 1000;
const STUCK_CHECKS = 2;

/**
 * Listens for DICOM over TLS; `onConnection` gets each connection once its handshake has succeeded,
 * `onRefused` hears why a handshake failed (no client certificate, an untrusted one, not TLS...).
 *
 * Node's `tls` server under Deno 2.9.6 stops accepting at the first EMFILE (the process out of descriptors)
 * with no error event, still `listening`, until a restart. So once a second, the listener reads its port's
 * accept queue (/proc/net/tcp): connections waiting there at two looks in a row with none accepted between
 * mean it stopped; it then closes that server (the connections waiting are reset) and listens again on the
 * same port with a new one, 50 ms to 1 s apart while that fails. `hooks` hear both. Not on Linux (no /proc):
 * no watch.
 */
export function listenTls(
  options: { hostname: string; port: number; material: TlsServerMaterial; handshakeTimeoutMs: number },
  onConnection: (socket: WireSocket) => void,
  onRefused: (reason: string, remoteAddress: string | undefined) => void,
  hooks: AcceptHooks = {},
  /**
   * Whether a new connection may be held, given its TCP socket (before the handshake, which holds descriptors
   * too): the descriptor budget (agent/descriptors.ts, _connection_gate.ts). One that may not is closed at once.
   */
  admit: (socket: Socket) => boolean = () => true,
): Promise<TlsListener> {
  let m = options.material;
  let accepted = 0;
  const create = () => {
    const server = tls.createServer({
      cert: m.cert,
      key: m.key,
      ca: m.ca,
      requestCert: m.requireClientCert,
      // Checked in secureConnection instead, to say why a certificate is refused (tls_refusal.ts): the
      // library's own refusal reaches us as "socket hang up", whatever the certificate's fault.
      rejectUnauthorized: false,
      minVersion: MIN_VERSION,
      handshakeTimeout: options.handshakeTimeoutMs,
    });
    server.on("connection", (socket: Socket) => {
      accepted++;
      if (!admit(socket)) socket.destroy();
    });
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      if (m.requireClientCert && !socket.authorized) {
        // Refused before a byte of it is read.
        try {
          const der = socket.getPeerCertificate?.()?.raw as Uint8Array | undefined;
          onRefused(
            clientCertProblem(der, m.ca, Date.now(), socket.authorizationError?.toString()),
            remoteOf(socket),
          );
        } finally {
          socket.destroy();
        }
        return;
      }
      try {
        onConnection(prepare(socket));
      } catch {
        socket.destroy();
      }
    });
    server.on("tlsClientError", (err: Error, socket: tls.TLSSocket) => {
      try {
        // A connection that sent no byte offered no handshake to refuse (closed by the gate for its
        // silence, or by its peer): `_parent` is the TCP socket under it (Deno 2.9.6 as Node).
        const raw = (socket as unknown as { _parent?: { bytesRead?: number } })?._parent;
        if (raw?.bytesRead !== 0) onRefused(err?.message ?? "TLS handshake failed", remoteOf(socket));
      } finally {
        socket?.destroy();
      }
    });
    return server;
  };
  const listen = (server: tls.Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, options.hostname, () => {
        server.off("error", reject);
        server.on("error", () => {/* a failing connection: reported through tlsClientError */});
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });

  let server = create();
  let closed = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  /** Closes the stuck server and listens again on `port` until that works. */
  const relisten = async (port: number) => {
    server.close();
    for (let tries = 1, wait = 50;; tries++, wait = Math.min(wait * 2, 1000)) {
      if (closed) return;
      const next = create();
      try {
        await listen(next, port);
      } catch {
        next.close();
        await new Promise((r) => setTimeout(r, wait));
        continue;
      }
      if (closed) return void next.close();
      server = next;
      try {
        hooks.onAcceptResumed?.(tries);
      } catch { /* a hook never stops the listener */ }
      return;
    }
  };
  const watch = (port: number) => {
    let strikes = 0;
    let seen = accepted;
    let restarting = false;
    timer = setInterval(() => {
      if (restarting) return;
      const queued = readAcceptQueue(port);
      if (queued === undefined) return; // not Linux, or no descriptor to look with: look again later
      strikes = queued > 0 && accepted === seen ? strikes + 1 : 0;
      seen = accepted;
      if (strikes < STUCK_CHECKS) return;
      strikes = 0;
      restarting = true;
      try {
        hooks.onAcceptFailing?.("the TLS listener stopped accepting (EMFILE)");
      } catch { /* a hook never stops the listener */ }
      relisten(port).finally(() => (restarting = false));
    }, STUCK_CHECK_MS);
    Deno.unrefTimer(timer);
  };
  return listen(server, options.port).then((port) => {
    watch(port);
    return {
      port,
      setMaterial: (next) => {
        m = { ...m, cert: next.cert, key: next.key, ca: next.ca };
        server.setSecureContext({ cert: next.cert, key: next.key, ca: next.ca });
      },
      close: () => {
        closed = true;
        clearInterval(timer);
        server.close();
      },
    };
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
