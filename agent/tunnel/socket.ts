/**
 * Opening the tunnel's WebSocket. Deno's own WebSocket is the fast path; it cannot be given extra
 * CA certificates, so with a CA bundle (`hub.caFile`) the npm `ws` client is used instead, which
 * takes `ca` and speaks the same WebSocket interface.
 */
import { openWebSocket } from "@conduit/shared/tunnel/mod.ts";
import WsWebSocket from "ws";

export async function openTunnelSocket(
  url: string,
  headers: Record<string, string>,
  caCerts?: string[],
  timeoutMs = 10_000,
): Promise<WebSocket> {
  if (!caCerts?.length) return await openWebSocket(url, { headers, timeoutMs });
  return await new Promise((resolve, reject) => {
    const ws = new WsWebSocket(url, {
      headers,
      ca: caCerts,
      handshakeTimeout: timeoutMs,
      maxPayload: 1 << 20,
    });
    ws.binaryType = "arraybuffer";
    ws.once("open", () => resolve(ws as unknown as WebSocket));
    ws.once("error", (err: Error) => reject(new Error(`WebSocket to ${url} failed: ${err.message}`)));
  });
}
