/**
 * Hub to hub: a request for a site another hub holds is carried to that hub over one WebSocket
 * between the two (`GET /cluster` on the holder's cluster URL, the cluster secret as a bearer token),
 * carrying the same yamux-style session as the agents' tunnel: one stream per request, each with its
 * credit window, so nothing queues without bound whatever either side's speed.
 *
 * This file is ClusterPeers, what the rest of the hub holds; the rest reads in this order: peer_links.ts
 * (the asking side: a link to each hub that holds sites asked for, a stream per request), peer_route.ts
 * (`GET /cluster`, where other hubs open their links), peer_serve.ts (the holding side: each stream they
 * open served, joined to the site's tunnel by splice.ts) and peer_wire.ts (what hubs say to each other on
 * a link: the open and its answer, what a hub asks, relays and features, the link's limits).
 */
import type { Hono } from "hono";
import { Reason, type Session, type Stream } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import type { ClusterLeases } from "./leases.ts";
import { PeerLinks } from "./peer_links.ts";
import { clusterRoutes } from "./peer_route.ts";
import { type Holding, serveStream } from "./peer_serve.ts";
import {
  type ClusterRequestHook,
  type DownlinkLimiter,
  type RelayFlow,
  SiteElsewhereError,
} from "./peer_wire.ts";

export class ClusterPeers {
  #secret?: string;
  /** The asking side: links to the hubs holding sites asked for (peer_links.ts). */
  readonly #links: PeerLinks;
  /** What serving another hub's stream reads of this (peer_serve.ts). */
  readonly #holding: Holding;
  /** The links other hubs opened to this one. */
  readonly #inbound = new Set<Session>();
  /** The downlink cap of a site held here, for relays into it carried from other hubs (set once assembled). */
  downlink?: DownlinkLimiter;
  /** Told of each request carried to or for another hub (metrics; set once assembled). Probes are not counted. */
  onRequest?: ClusterRequestHook;
  /** How long a stream another hub opened may stay without its request before it is reset (ms). */
  openWaitMs = 30_000;

  constructor(
    private readonly leases: ClusterLeases,
    /**
     * A new stream on the tunnel of a site this hub holds (once its agent takes one more), or undefined;
     * throws when the agent's streams all stayed in use (the message says so).
     */
    local: (site: string) => Promise<Stream | undefined>,
    private readonly log: Logger,
    /** The features the agent of a site this hub holds named in its hello; undefined when not held here. */
    featuresHere: (site: string) => readonly string[] | undefined = () => undefined,
    /** CA certificates to trust, besides the system's, for other hubs' https cluster URLs. */
    caCerts?: string[],
  ) {
    this.#links = new PeerLinks(leases, log, () => this.#secret, caCerts);
    this.#holding = {
      log,
      local,
      featuresHere,
      downlink: () => this.downlink,
      openWaitMs: () => this.openWaitMs,
      count: (direction, outcome) => this.#count(direction, outcome),
    };
  }

  /**
   * The CA certificates to trust from now on for other hubs' https cluster URLs (`clusterCaFile` read again,
   * SIGHUP): the next link opened uses them; links open now go on (TLS checked the certificate at their
   * handshake only).
   */
  setCaCerts(caCerts: string[]): void {
    this.#links.setCaCerts(caCerts);
  }

  /**
   * The features the agent of `site`, held by another hub, named in its hello: as that hub last said, or
   * asked now (a stream opened and closed); undefined when it cannot be known (no hub holds the site, or
   * the hub holding it is older than this question, or unreachable): then the caller asks no more of the
   * agent than version 1 of the protocol.
   */
  features(site: string): Promise<ReadonlySet<string> | undefined> {
    return this.#links.features(site);
  }

  async start(): Promise<void> {
    this.#secret = await this.leases.secret();
  }

  /** A stream to `site`'s agent through the hub that holds it; SiteElsewhereError if none can be had. */
  async open(site: string): Promise<Stream> {
    return (await this.openRelay(site)).stream;
  }

  /**
   * A stream to `site`'s agent through the hub that holds it, for a relay into the site when `relay` is
   * given: `downlinkApplied` says whether the holder applies the site's downlink cap to it (it takes
   * `relay`), so that the caller does not apply it again. SiteElsewhereError if none can be had.
   */
  async openRelay(site: string, relay?: RelayFlow): Promise<{ stream: Stream; downlinkApplied: boolean }> {
    try {
      const opened = await this.#links.openRelay(site, relay);
      this.#count("out", "ok");
      return opened;
    } catch (err) {
      this.#count("out", err instanceof SiteElsewhereError ? err.reason : "no-answer");
      throw err;
    }
  }

  /** The metrics' hook, which must never fail a request. */
  #count(direction: "out" | "in", outcome: string): void {
    try {
      this.onRequest?.(direction, outcome);
    } catch { /* metrics only */ }
  }

  /** `/cluster`: other hubs of the cluster connect here (peer_route.ts). */
  routes(): Hono {
    return clusterRoutes({
      log: this.log,
      secret: () => this.#secret,
      inbound: this.#inbound,
      serve: (stream, from, wantsFeatures, wantsRelays) =>
        serveStream(this.#holding, stream, from, wantsFeatures, wantsRelays),
    });
  }

  /** Closes every link to and from other hubs. */
  stop(): void {
    this.#links.stop();
    for (const s of this.#inbound) s.close(Reason.Normal, "hub stopping");
  }
}
