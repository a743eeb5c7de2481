/**
 * Opening the tunnel's WebSocket with the npm `ws` client. Measured here: Deno's own WebSocket
 * client leaves Nagle's algorithm on (strace shows TCP_NODELAY set to 0), so the agent's small
 * frames (window updates, acknowledgements) wait for delayed ACKs and a relay ran at about half
 * the rate it reaches with `ws`, which sets TCP_NODELAY. `ws` also takes a CA bundle (`hub.caFile`) and a
 * client certificate (`hub.clientCertFile`), which Deno's WebSocket cannot. It speaks the standard WebSocket interface the transport expects.
 */
import type { ClientRequest, IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import WsWebSocket from "ws";
import { refusalOf } from "@conduit/shared/tunnel";
import type { HubTls } from "../config/tls_files.ts";
import { tlsHint } from "./tls_hint.ts";
import type { ProxySetting } from "./proxy.ts";
import { adoptConnection, connectThroughProxy } from "./proxy_connect.ts";

/** The most of a refused upgrade's body read (a refusal is a short JSON message). */
const REFUSAL_BYTES = 4096;

export function openTunnelSocket(
  url: string,
  headers: Record<string, string>,
  tls: HubTls = {},
  timeoutMs = 10_000,
  /** Aborted (the agent stops): the attempt ends at once instead of at its timeout. */
  signal?: AbortSignal,
  /** An outbound HTTP proxy (./proxy.ts): CONNECT through it first, then TLS to the hub for wss://. */
  proxy?: ProxySetting,
): Promise<WebSocket> {
  if (!proxy) return openSocket(url, headers, tls, timeoutMs, signal);
  const u = new URL(url);
  const secure = u.protocol === "wss:" || u.protocol === "https:";
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  return connectThroughProxy(proxy, host, port, { tls: secure ? tls : undefined, timeoutMs, signal })
    .then((socket) => openSocket(url, headers, tls, timeoutMs, signal, socket));
}

function openSocket(
  url: string,
  headers: Record<string, string>,
  tls: HubTls,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  /** A connection to the hub already open (through a proxy, TLS done): ws speaks over it. */
  socket?: Socket,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      socket?.destroy();
      return reject(new Error(`WebSocket to ${url}: stopping`));
    }
    const socketFailed = (err: Error) =>
      new Error(`WebSocket to ${url} failed: ${err.message}${tlsHint(err.message, Boolean(tls.cert))}`);
    if (socket) {
      // A connection made through the proxy is open already: its errors from now on (a TLS 1.3 alert can
      // come at once, before ws listens to it) fail the attempt, and never go unheard; one that came before
      // (in the handshake's own turn of the event loop) fails it now, not at the handshake's timeout.
      const early = adoptConnection(socket, (err: Error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(socketFailed(err));
      });
      if (early) {
        socket.destroy();
        return reject(socketFailed(early));
      }
    }
    const ws = new WsWebSocket(url, {
      headers,
      ...(socket ? { createConnection: () => socket } : {}),
      ...(tls.caCerts?.length ? { ca: tls.caCerts } : {}),
      // Mutual TLS: the site's certificate, for a hub (or its proxy) that asks for one.
      ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}),
      handshakeTimeout: timeoutMs,
      // A frame is at most 64 KiB plus its header; the hello is small.
      maxPayload: 1 << 20,
      // RFC 6455 masks client frames so that script in a browser cannot make a frame that an
      // intermediary proxy would read as a request of its own (cache poisoning). The agent runs no
      // foreign script and talks to our hub, usually over TLS; masking each byte in JavaScript cost
      // half the agent's CPU when serving WADO-RS (profiled). A zero key keeps the frames valid for
      // every server and lets ws skip the XOR.
      generateMask: (mask: Uint8Array) => mask.fill(0),
    });
    const onAbort = () => {
      reject(new Error(`WebSocket to ${url}: stopping`));
      ws.terminate();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    ws.once("open", () => {
      signal?.removeEventListener("abort", onAbort);
      resolve(ws as unknown as WebSocket);
    });
    // A hub refuses a bad credential before the upgrade, with the refusal in a 401's body: read it so
    // that the agent says why (as for a hello refused), else name the status.
    ws.once("unexpected-response", (req: ClientRequest, res: IncomingMessage) => {
      signal?.removeEventListener("abort", onAbort);
      const body = new Uint8Array(REFUSAL_BYTES);
      let size = 0;
      const fail = () => {
        req.destroy();
        const text = new TextDecoder().decode(body.subarray(0, size));
        reject(
          refusalOf(text) ??
            new Error(
              `WebSocket to ${url} failed: the hub answered ${res.statusCode}${
                statusHint(res.statusCode, text)
              }`,
            ),
        );
      };
      res.on("data", (chunk: Uint8Array) => {
        const take = chunk.subarray(0, REFUSAL_BYTES - size);
        body.set(take, size);
        size += take.byteLength;
        if (size === REFUSAL_BYTES) res.destroy();
      });
      res.once("end", fail);
      res.once("close", fail);
      res.once("error", fail);
    });
    ws.once("error", (err: Error) => {
      signal?.removeEventListener("abort", onAbort);
      // ws's words for the attempt's time limit: which setting it was, for an operator on a slow link.
      const waited = /handshake has timed out/i.test(err.message)
        ? ` after ${timeoutMs / 1000} s (hub.connectTimeoutSeconds)`
        : "";
      reject(
        new Error(
          `WebSocket to ${url} failed: ${err.message}${waited}${tlsHint(err.message, Boolean(tls.cert))}`,
        ),
      );
    });
  });
}

/**
 * What a status other than the upgrade means for the operator: a page (the console answers 200 at any path
 * it does not know, 503 "not built" where it is not built: both titled Conduit) or a 404 is a URL without
 * the tunnel; another 502 to 504, a proxy with no hub behind it.
 */
export function statusHint(status: number | undefined, body = ""): string {
  if (status === 200 || status === 404 || /<title>Conduit<\/title>/.test(body)) {
    return " (no tunnel there: --hub or hub.url is the hub's tunnel URL, wss://HUB/tunnel)";
  }
  if (status === 502 || status === 503 || status === 504) {
    return " (a proxy answered: is the hub behind it running, and does the proxy pass WebSocket upgrades?)";
  }
  return "";
}
