/**
 * The wire of an outbound HTTP proxy (./proxy.ts says which): a TCP connection to the proxy, `CONNECT
 * host:port` with Basic credentials when the proxy URL has them, the proxy's status line, and, for a wss://
 * hub, TLS to the hub over that connection (the hub's CA file and the site's client certificate apply to the
 * hub, not to the proxy). The socket is handed to `ws` (createConnection) or to an HTTP request, which takes
 * it over with adoptConnection. Errors name the proxy as host:port and quote its status line; the password is
 * never in them.
 */
import { Buffer } from "node:buffer";
import * as net from "node:net";
import * as tls from "node:tls";
import type { HubTls } from "../config/tls_files.ts";
import { proxyName, type ProxySetting } from "./proxy.ts";
import { tlsHint } from "./tls_hint.ts";

/** The most of the proxy's answer to CONNECT read before giving up on it (its head is short). */
const HEAD_BYTES = 16 * 1024;

/** The proxy could not be reached, or did not open the way to the hub. */
export class ProxyError extends Error {
  override name = "ProxyError";
  constructor(message: string, readonly status?: number) {
    super(message);
  }
}

/** What to do about the proxy's refusal `status` (credentials asked for or refused, a port not allowed). */
function refusalHint(status: number, proxy: ProxySetting, target: string): string {
  // 407 is the proxy's own "credentials, please"; tinyproxy (1.11) answers a CONNECT 401 instead.
  if (status === 407 || status === 401) {
    return proxy.auth
      ? ` (the proxy refused the user and password of ${proxy.source}: check them)`
      : ` (the proxy asks for credentials: give them in ${proxy.source}, http://user:password@host:port)`;
  }
  if (status === 403) {
    return ` (the proxy does not let this machine CONNECT to ${target}: on the proxy, allow CONNECT to the ` +
      `hub's host and port, e.g. tinyproxy's ConnectPort, squid's SSL_ports)`;
  }
  if (status === 500 || status === 502 || status === 503 || status === 504) {
    return ` (the proxy could not reach the hub: is the hub running, and does the proxy reach ${target}?)`;
  }
  return "";
}

/**
 * The first error of a connection handed over open (TLS done), kept until its new owner listens. With TLS 1.3
 * a front that asks for a client certificate sends its alert after the client's side of the handshake is
 * done: Deno's node:tls can raise it in the same turn of the event loop as secureConnect, before the owner's
 * `await` has resumed. Measured (2026-12-06): a socket left without an error listener for that turn raised
 * the alert as an uncaught exception in about half of the first attempts of a process through tinyproxy to
 * HAProxy `verify required`; the enrollment then waited for its 30 s timeout, and the tunnel's attempt for
 * ever (ws's handshake timer never fires on a connection destroyed before ws writes to it).
 */
const held = new WeakMap<net.Socket, { error?: Error; listener: (err: Error) => void }>();

/** Keeps `socket`'s errors (the first one) for adoptConnection: it is never without an error listener. */
function holdErrors(socket: net.Socket): void {
  const entry: { error?: Error; listener: (err: Error) => void } = {
    listener: (err: Error) => void (entry.error ??= err),
  };
  socket.on("error", entry.listener);
  held.set(socket, entry);
}

/**
 * Takes over a connection that connectThroughProxy or connectDirect opened: `onError` hears its errors from
 * now on. Returns the error that came before (the hub's front refusing the client certificate, say), which
 * `onError` is not called with: the caller fails with it at once.
 */
export function adoptConnection(socket: net.Socket, onError: (err: Error) => void): Error | undefined {
  socket.on("error", onError);
  const entry = held.get(socket);
  if (!entry) return undefined;
  held.delete(socket);
  socket.off("error", entry.listener);
  // Closed quietly in between: nothing would ever be heard of it again (ws's handshake timer neither).
  return entry.error ??
    (socket.destroyed ? new Error("the hub closed the connection as soon as it was open") : undefined);
}

/** The status line as the proxy sent it, printable and short (it goes into a log line). */
const shown = (line: string) => JSON.stringify(line.replace(/[^\x20-\x7e]/g, "?").slice(0, 200));

/**
 * A socket to `host`:`port` through `proxy`, open once the proxy answered 2xx to CONNECT; with `tls`, a TLS
 * socket to the hub over it, open once its handshake is done (certificate checked against `tls.caCerts`, or
 * the system's, for `host`).
 */
export function connectThroughProxy(
  proxy: ProxySetting,
  host: string,
  port: number,
  opts: { tls?: HubTls; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<net.Socket> {
  const target = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const via = `the proxy ${proxyName(proxy)} (${proxy.source})`;
  return new Promise<net.Socket>((resolve, reject) => {
    let done = false;
    let socket: net.Socket | undefined;
    const finish = (err: Error | undefined, result?: net.Socket) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (err) {
        socket?.destroy();
        reject(err);
      } else resolve(result!);
    };
    const onAbort = () => finish(new ProxyError(`connecting through ${via}: stopping`));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const timer = setTimeout(
      () =>
        finish(
          new ProxyError(`${via} did not open the way to ${target} within ${opts.timeoutMs ?? 10_000} ms`),
        ),
      opts.timeoutMs ?? 10_000,
    );

    const raw = net.connect({ host: proxy.host, port: proxy.port });
    socket = raw;
    raw.setNoDelay(true);
    const onRawError = (err: Error) => {
      finish(new ProxyError(`cannot reach ${via}: ${err.message} (is the proxy running at that address?)`));
    };
    raw.once("error", onRawError);
    raw.once("close", () => finish(new ProxyError(`${via} closed the connection before answering CONNECT`)));
    raw.once("connect", () => {
      const auth = proxy.auth
        ? `Proxy-Authorization: Basic ${basic(proxy.auth.user, proxy.auth.password)}\r\n`
        : "";
      raw.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${auth}\r\n`);
    });
    let head = new Uint8Array(0);
    const onData = (chunk: Uint8Array) => {
      const joined = new Uint8Array(head.byteLength + chunk.byteLength);
      joined.set(head);
      joined.set(chunk, head.byteLength);
      head = joined;
      const end = headEnd(head);
      if (end < 0) {
        if (head.byteLength > HEAD_BYTES) {
          finish(new ProxyError(`${via} answered CONNECT with more than ${HEAD_BYTES} bytes of head`));
        }
        return;
      }
      raw.off("data", onData);
      raw.pause();
      const text = new TextDecoder().decode(head.subarray(0, end));
      const statusLine = text.split("\r\n", 1)[0];
      const status = Number(/^HTTP\/\d(?:\.\d)? (\d{3})/.exec(statusLine)?.[1] ?? NaN);
      if (!(status >= 200 && status < 300)) {
        return finish(
          new ProxyError(
            `${via} refused CONNECT to ${target}: ${shown(statusLine)}${refusalHint(status, proxy, target)}`,
            Number.isNaN(status) ? undefined : status,
          ),
        );
      }
      // Bytes after the head belong to the hub (none is expected before the client speaks).
      const rest = head.subarray(end + 4);
      if (rest.byteLength) raw.unshift(rest);
      if (!opts.tls) {
        holdErrors(raw);
        raw.off("error", onRawError);
        raw.removeAllListeners("close");
        raw.resume();
        return finish(undefined, raw);
      }
      raw.removeAllListeners("error");
      raw.removeAllListeners("close");
      const t = opts.tls;
      const secure = tls.connect({
        socket: raw,
        ...(net.isIP(host) ? {} : { servername: host }),
        ...(t.caCerts?.length ? { ca: t.caCerts } : {}),
        ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
        ALPNProtocols: ["http/1.1"],
      });
      socket = secure;
      const onTlsError = (err: Error) => {
        finish(
          new ProxyError(
            `TLS to the hub ${target} through ${via} failed: ${err.message}${
              tlsHint(err.message, Boolean(t.cert))
            }`,
          ),
        );
      };
      secure.once("error", onTlsError);
      secure.once("secureConnect", () => {
        // Held before the handshake's listener goes: an alert right after the handshake is never unheard.
        holdErrors(secure);
        secure.off("error", onTlsError);
        finish(undefined, secure);
      });
    };
    raw.on("data", onData);
  });
}

/** Basic credentials (RFC 7617, UTF-8). */
const basic = (user: string, password: string) =>
  Buffer.from(`${user}:${password}`, "utf8").toString("base64");

/** Where the head's blank line (CRLF CRLF) starts, or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.byteLength; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * A socket straight to `host`:`port` (TLS with `opts.tls`), open once connected and, with TLS, its
 * handshake done: the same socket as connectThroughProxy's, without a proxy.
 */
export function connectDirect(
  host: string,
  port: number,
  opts: { tls?: HubTls; timeoutMs?: number } = {},
): Promise<net.Socket> {
  const target = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  return new Promise<net.Socket>((resolve, reject) => {
    const t = opts.tls;
    const socket: net.Socket = t
      ? tls.connect({
        host,
        port,
        ...(net.isIP(host) ? {} : { servername: host }),
        ...(t.caCerts?.length ? { ca: t.caCerts } : {}),
        ...(t.cert && t.key ? { cert: t.cert, key: t.key } : {}),
        ALPNProtocols: ["http/1.1"],
      })
      : net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ProxyError(`${target} did not answer within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      const hint = tlsHint(err.message, Boolean(t?.cert)) ||
        " (is the hub running, and does this machine reach it at that address? check --hub or hub.url)";
      reject(new ProxyError(`cannot reach the hub ${target}: ${err.message}${hint}`));
    };
    socket.once("error", onError);
    socket.once(t ? "secureConnect" : "connect", () => {
      clearTimeout(timer);
      holdErrors(socket);
      socket.off("error", onError);
      resolve(socket);
    });
  });
}
