/**
 * `GET /cluster` on a hub's cluster URL: another hub of the cluster opens its link here, the cluster secret
 * as its bearer token; each stream it opens on the link is served by peer_serve.ts.
 */
import { Hono } from "hono";
import { timingSafeEqual } from "node:crypto";
import { Session, type Stream, webSocketTransport } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import {
  type InboundLink,
  keepAlive,
  logLinkEnd,
  MAX_STREAMS,
  PEER_ASKS,
  PEER_ASKS_RELAYS,
} from "./peer_wire.ts";

/** What the route reads of ClusterPeers. */
export interface Accepting {
  readonly log: Logger;
  /** The cluster secret (undefined until start: every link refused). */
  secret(): string | undefined;
  /** The links other hubs opened here, open now (closed at stop). */
  readonly inbound: Set<Session>;
  /** Serves one stream another hub opened on its link (peer_serve.ts). */
  serve(stream: Stream, from: InboundLink, wantsFeatures: boolean, wantsRelays: boolean): Promise<void>;
}

/** `/cluster`: other hubs of the cluster connect here. */
export function clusterRoutes(a: Accepting): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
    const given = new TextEncoder().encode(m?.[1] ?? "");
    const secret = new TextEncoder().encode(a.secret() ?? "");
    if (!a.secret() || given.length !== secret.length || !timingSafeEqual(given, secret)) {
      a.log.warn("hub link refused: bad cluster secret");
      return c.json({ error: "send the cluster secret as Authorization: Bearer <secret>" }, 401);
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json({ error: "this endpoint takes a WebSocket upgrade from another hub" }, 426);
    }
    const peer = c.req.header("x-conduit-hub") ?? "unknown";
    const asks = (c.req.header("x-conduit-peer") ?? "").split(/[\s,]+/);
    const wantsFeatures = asks.includes(PEER_ASKS);
    const wantsRelays = asks.includes(PEER_ASKS_RELAYS);
    const from: InboundLink = { hub: peer, refused: 0 };
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw, { idleTimeout: 0 });
    const session = new Session(webSocketTransport(socket), {
      side: "server",
      maxStreams: MAX_STREAMS,
      onStream: (stream) => void a.serve(stream, from, wantsFeatures, wantsRelays),
      onClose: (end) => logLinkEnd(a.log, "hub link from a peer ended", peer, end),
    });
    keepAlive(session);
    a.inbound.add(session);
    session.ended.then(() => a.inbound.delete(session));
    return response;
  });
  return app;
}
