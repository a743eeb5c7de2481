/**
 * One HTTP request to the hub (the enrollment's POST, agent check's GETs) over a connection of our own: the one
 * ./proxy_connect.ts opens through an outbound proxy (CONNECT, then TLS to the hub for https), the request
 * written on it by node:http. Without a proxy, the same over a connection straight to the hub: for an agent
 * whose environment names a proxy that NO_PROXY (by ./proxy.ts's rules) keeps it from, since Deno's fetch would
 * apply HTTPS_PROXY by rules of its own.
 */
import * as http from "node:http";
import type { HubTls } from "../config/tls_files.ts";
import type { ProxySetting } from "./proxy.ts";
import { adoptConnection, connectDirect, connectThroughProxy } from "./proxy_connect.ts";
import { tlsHint } from "./tls_hint.ts";

/** The most of the answer's body read (the hub's answers here, to enroll and to agent check, are short). */
const BODY_BYTES = 64 * 1024;

/** One request to `url` (http: or https:) through `proxy`, or straight; its status, content type and body's text. */
export async function hubRequest(
  method: "GET" | "POST",
  url: string,
  headers: Record<string, string>,
  tls: HubTls,
  proxy: ProxySetting | undefined,
  timeoutMs = 30_000,
): Promise<{ status: number; statusText: string; contentType: string; body: string }> {
  const u = new URL(url);
  const secure = u.protocol === "https:";
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = u.port ? Number(u.port) : secure ? 443 : 80;
  const opts = { tls: secure ? tls : undefined, timeoutMs };
  const socket = proxy
    ? await connectThroughProxy(proxy, host, port, opts)
    : await connectDirect(host, port, opts);
  return await new Promise((resolve, reject) => {
    // With TLS 1.3 the hub's front refuses a client certificate after the handshake: its alert comes here.
    const failure = (err: Error) =>
      new Error(
        `the hub's answer${proxy ? " through the proxy" : ""} failed: ${err.message}${
          tlsHint(err.message, Boolean(tls.cert))
        }`,
      );
    // The socket's own errors from now on, before node:http listens to it, and the one that came before
    // (the alert can come in the handshake's own turn of the event loop): it fails the request at once.
    const early = adoptConnection(socket, (err) => fail(err));
    if (early) {
      socket.destroy();
      return reject(failure(early));
    }
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(failure(err));
    };
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`the hub did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const req = http.request({
      host,
      port,
      path: `${u.pathname}${u.search}`,
      method,
      headers: {
        ...headers,
        host: u.host,
        ...(method === "POST" ? { "content-length": "0" } : {}),
        connection: "close",
      },
      createConnection: () => socket,
    }, (res) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      res.on("data", (chunk: Uint8Array) => {
        if (size < BODY_BYTES) chunks.push(chunk);
        size += chunk.byteLength;
      });
      res.once("end", () => {
        clearTimeout(timer);
        socket.destroy();
        const body = new TextDecoder().decode(Uint8Array.from(chunks.flatMap((c) => [...c])));
        resolve({
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? "",
          contentType: String(res.headers["content-type"] ?? ""),
          body,
        });
      });
      res.once("error", (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      });
    });
    req.once("error", fail);
    req.end();
  });
}
