/**
 * Hub to hub: a request for a site another hub holds is carried to that hub over one WebSocket
 * between the two (`GET /cluster` on the holder's cluster URL, the cluster secret as a bearer token),
 * carrying the same yamux-style session as the agents' tunnel: one stream per request, each with its
 * credit window, so nothing queues without bound whatever either side's speed.
 *
 * On each stream the asking hub sends one record, `{ site }`; the holder answers `{ ok: true }` and
 * joins the stream to a new stream on the site's own tunnel (hub/cluster/splice.ts), or
 * `{ ok: false, message }` when the site is not (or no longer) held there. After that the bytes are
 * the site's own protocol, untouched. To a hub that asked for them when it connected (the
 * `x-conduit-peer` header naming `site-features`), `ok` also names the features the site's agent named in
 * its hello, so that the asking hub sends only what the agent understands (older hubs neither ask nor
 * answer them: both schemas are strict).
 *
 * A stream that carries a relay into the site (an object another site's agent sends it through the asking
 * hub) says so in its `relay` field, with the relay's flow (the source site and its route): the holder
 * then applies the site's downlink cap to what the stream carries to the site, in the same bucket as the
 * relays into the site from its own sources (one cap across the cluster, shared fairly per flow), and the
 * asking hub leaves that cap to it. A holder that knows `relay` says so in each answer (`relays`) on a link
 * whose asking hub named `relays` in `x-conduit-peer`; the asking hub sends `relay` only to a holder that
 * said so (a probe first when the link has not yet answered), since an older holder's strict schema would
 * refuse it: to an older holder it opens the stream as before and applies the downlink cap itself.
 *
 * A hub whose cluster URL is `https://` (its own `tls`) is reached over wss: its certificate must chain to
 * the system's roots or to `clusterCaFile`; one that does not is refused, and said in the log.
 */
import { Hono } from "hono";
import { z } from "zod";
import { timingSafeEqual } from "node:crypto";
import {
  Channel,
  ChannelError,
  openWebSocket,
  Reason,
  reasonName,
  Session,
  type SessionEnd,
  type Stream,
  webSocketTransport,
} from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import { splice } from "./splice.ts";
import type { ClusterLeases, Holder } from "./leases.ts";

/** A site another hub holds cannot be reached now (no URL, hub down, site moving): the caller's 503. */
/**
 * Why a request for a site held elsewhere could not be carried (the metrics' outcome): no hub holds the
 * site, its hub has no cluster URL or cannot be reached, its hub refused (the site moved), or its hub did
 * not answer as it should.
 */
export type ElsewhereReason = "unheld" | "no-url" | "unreachable" | "refused" | "no-answer";

export class SiteElsewhereError extends Error {
  override name = "SiteElsewhereError";
  constructor(message: string, readonly reason: ElsewhereReason = "no-answer") {
    super(message);
  }
}

/** A request carried between hubs: asked of another hub (`out`) or served for one (`in`), and its outcome. */
export type ClusterRequestHook = (direction: "out" | "in", outcome: string) => void;

/**
 * `probe`: only the answer (with the site's features), no stream to the site (hubs that know it).
 * `relay`: the stream carries a relay into the site, from the site `from` under `route` (its flow), whose
 * bytes to the site the holder throttles with the site's downlink cap (hubs that answer `relays`).
 */
const Open = z.object({
  site: z.string().min(1).max(64),
  probe: z.literal(true).optional(),
  relay: z.object({
    from: z.string().min(1).max(64),
    route: z.string().min(1).max(200).optional(),
  }).strict().optional(),
}).strict();
const Answer = z.object({
  ok: z.boolean(),
  message: z.string().optional(),
  features: z.array(z.string().max(64)).max(64).optional(),
  /** The holder takes `relay` in an open and applies the site's downlink cap to it (hubs that ask `relays`). */
  relays: z.literal(true).optional(),
}).strict();

/** What a hub asks of the hubs it connects to (`x-conduit-peer`): the sites' features with each stream. */
const PEER_ASKS = "site-features";
/** ... and whether they take `relay` in an open (said in each answer as `relays: true`). */
const PEER_ASKS_RELAYS = "relays";
/** How long a site's features learned from its hub are taken as current. */
const FEATURES_MS = 30_000;

/** An inbound link from another hub: its id (as it says), and how many of its opens were refused. */
interface InboundLink {
  hub: string;
  refused: number;
}

/** A link's refused opens logged (a hub of another version, or not a hub, may send thousands). */
const REFUSALS_LOGGED = 10;

/** Streams one hub may have open to another at once (each a request or an object in flight). */
const MAX_STREAMS = 8192;

/**
 * Extra window the holding hub grants on both streams it joins for another hub (1 MiB each in all): a
 * request carried to another hub crosses one more flow-controlled hop, and the asking hub grows only its own
 * end (a retrieve's extra window). Growing the holder's receive window on the site's stream too keeps the
 * site's next bytes in flight while the holder passes the last ones on (WADO through a forwarding hub: 0.74x
 * of direct before, 0.84x after, medians of six paired rounds, bench/README.md); the hub-to-hub stream, for
 * objects sent to the site. The holder still keeps at most this much per stream and direction.
 */
const PEER_EXTRA_WINDOW = 768 * 1024;

/**
 * Logs the end of a link between hubs: at info when it closed normally (a hub stopping, or closing its side),
 * as a warning otherwise (the other hub broke the protocol, sent garbage, went away or stopped answering).
 */
function logLinkEnd(log: Logger, msg: string, hub: string, end: SessionEnd): void {
  const fields = { hub, reason: reasonName(end.reason), message: end.message, local: end.local };
  if (end.reason === Reason.Normal) log.info(msg, fields);
  else log.warn(msg, fields);
}

/** Pings the other hub; a link whose other end went away without closing (a machine lost) ends within 15 s. */
function keepAlive(session: Session): void {
  const beat = setInterval(() => {
    session.ping(10_000).catch(() => {
      if (!session.isClosed) session.close(Reason.HeartbeatTimeout, "the other hub did not answer a ping");
    });
  }, 5000);
  session.ended.then(() => clearInterval(beat));
}

/** A relay into a site carried to its holder: the source site and the route it relays under. */
export interface RelayFlow {
  from: string;
  route?: string;
}

/** What the holder of a site throttles a relay into it with (its downlink cap's flow), if capped. */
export type DownlinkLimiter = (
  site: string,
  flow: RelayFlow,
) => Promise<{ take(bytes: number, signal?: AbortSignal): Promise<void> } | undefined>;

export class ClusterPeers {
  readonly #peers = new Map<string, Promise<Session>>();
  #secret?: string;
  /** The HTTP client wss links are opened with when `clusterCaFile` adds CAs to trust. */
  #client?: Deno.HttpClient;
  /** Clients a reload replaced: links they opened may still be up, so they are closed at stop(). */
  readonly #replaced: Deno.HttpClient[] = [];
  /** The last failure to open a link to each hub, logged once. */
  readonly #failures = new Map<string, string>();
  /** Each remote site's features as its hub last named them, the hub, and when. */
  readonly #features = new Map<string, { features: ReadonlySet<string>; hubId: string; at: number }>();
  /** Whether the hub at the other end of each link takes `relay` (known once it answered on the link). */
  readonly #relays = new WeakMap<Session, boolean>();
  /** The probe under way on each link whose answer on `relay` is not known yet. */
  readonly #asking = new WeakMap<Session, Promise<boolean>>();
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
    private readonly local: (site: string) => Promise<Stream | undefined>,
    private readonly log: Logger,
    /** The features the agent of a site this hub holds named in its hello; undefined when not held here. */
    private readonly featuresHere: (site: string) => readonly string[] | undefined = () => undefined,
    /** CA certificates to trust, besides the system's, for other hubs' https cluster URLs. */
    caCerts?: string[],
  ) {
    if (caCerts?.length) this.#client = Deno.createHttpClient({ caCerts });
  }

  /**
   * The CA certificates to trust from now on for other hubs' https cluster URLs (`clusterCaFile` read again,
   * SIGHUP): the next link opened uses them; links open now go on (TLS checked the certificate at their
   * handshake only).
   */
  setCaCerts(caCerts: string[]): void {
    if (this.#client) this.#replaced.push(this.#client);
    this.#client = caCerts.length ? Deno.createHttpClient({ caCerts }) : undefined;
    // A link refused for the old CA is said again if the new one is refused too.
    this.#failures.clear();
  }

  /**
   * The features the agent of `site`, held by another hub, named in its hello: as that hub last said, or
   * asked now (a stream opened and closed); undefined when it cannot be known (no hub holds the site, or
   * the hub holding it is older than this question, or unreachable): then the caller asks no more of the
   * agent than version 1 of the protocol.
   */
  async features(site: string): Promise<ReadonlySet<string> | undefined> {
    const holder = await this.leases.holder(site);
    const known = this.#features.get(site);
    if (known && holder && known.hubId === holder.hubId && Date.now() - known.at < FEATURES_MS) {
      return known.features;
    }
    if (!holder?.clusterUrl) return undefined;
    try {
      const session = await this.#session(holder);
      const channel = new Channel(session.open());
      try {
        await channel.send({ site, probe: true });
        const answer = await channel.expect(Answer);
        this.#relays.set(session, answer.relays === true);
        if (!answer.ok || !answer.features) return undefined;
        const features = new Set(answer.features);
        this.#features.set(site, { features, hubId: holder.hubId, at: Date.now() });
        return features;
      } finally {
        channel.stream.reset("done");
      }
    } catch {
      // A hub older than the probe resets the stream; one that cannot be reached says nothing either.
      return undefined;
    }
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
      const opened = await this.#openRelay(site, relay);
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

  async #openRelay(site: string, relay?: RelayFlow): Promise<{ stream: Stream; downlinkApplied: boolean }> {
    const known = await this.leases.holder(site);
    try {
      return await this.#openAt(site, known ?? await this.leases.holder(site, true), relay);
    } catch (err) {
      // The last beat's view may be a second old: a site that moved since is looked up again, once.
      if (!known || !(err instanceof SiteElsewhereError)) throw err;
      const now = await this.leases.holder(site, true);
      if (!now || now.hubId === known.hubId) throw err;
      return await this.#openAt(site, now, relay);
    }
  }

  /** Whether the hub at the other end of `session` takes `relay`: as it said, or asked now with a probe. */
  async #takesRelay(session: Session, site: string): Promise<boolean> {
    const known = this.#relays.get(session);
    if (known !== undefined) return known;
    // The relays that start together on a new link (eight objects at once) wait on one probe.
    let asking = this.#asking.get(session);
    if (!asking) {
      asking = this.#probeRelays(session, site);
      this.#asking.set(session, asking);
      asking.finally(() => this.#asking.delete(session));
    }
    return await asking;
  }

  async #probeRelays(session: Session, site: string): Promise<boolean> {
    const channel = new Channel(session.open());
    try {
      await channel.send({ site, probe: true });
      const answer = await channel.expect(Answer);
      this.#relays.set(session, answer.relays === true);
      return answer.relays === true;
    } catch {
      // A hub older than the probe resets the stream: it knows no `relay` either.
      if (!session.isClosed) this.#relays.set(session, false);
      return false;
    } finally {
      channel.stream.reset("done");
    }
  }

  async #openAt(
    site: string,
    holder: Holder | undefined,
    relay?: RelayFlow,
  ): Promise<{ stream: Stream; downlinkApplied: boolean }> {
    if (!holder) throw new SiteElsewhereError(`site ${site} is not connected to any hub`, "unheld");
    if (!holder.clusterUrl) {
      throw new SiteElsewhereError(
        `site ${site} is on hub ${holder.hubId}, which has no cluster URL to reach it at`,
        "no-url",
      );
    }
    let session: Session;
    try {
      session = await this.#session(holder);
    } catch (err) {
      throw new SiteElsewhereError(
        `site ${site} is on a hub that cannot be reached: ${(err as Error).message}`,
        "unreachable",
      );
    }
    const tagged = relay !== undefined && await this.#takesRelay(session, site);
    const channel = new Channel(session.open());
    try {
      await channel.send(tagged ? { site, relay } : { site });
      const answer = await channel.expect(Answer);
      this.#relays.set(session, answer.relays === true);
      if (!answer.ok) {
        channel.stream.reset("refused");
        throw new SiteElsewhereError(answer.message ?? `site ${site} is between hubs`, "refused");
      }
      if (answer.features) {
        this.#features.set(site, { features: new Set(answer.features), hubId: holder.hubId, at: Date.now() });
      } else this.#features.delete(site);
    } catch (err) {
      channel.stream.reset("failed");
      if (err instanceof SiteElsewhereError) throw err;
      throw new SiteElsewhereError(`site ${site}: its hub did not answer (${(err as Error).message})`);
    }
    if (channel.detach().length) {
      channel.stream.reset("unexpected bytes");
      throw new SiteElsewhereError(`site ${site}: its hub sent bytes before the request`);
    }
    return { stream: channel.stream, downlinkApplied: tagged };
  }

  #session(holder: Holder): Promise<Session> {
    let s = this.#peers.get(holder.hubId);
    if (!s) {
      s = this.#connect(holder);
      this.#peers.set(holder.hubId, s);
      s.catch(() => this.#peers.delete(holder.hubId));
    }
    return s.then((session) => {
      if (!session.isClosed) return session;
      this.#peers.delete(holder.hubId);
      return this.#session(holder);
    });
  }

  async #connect(holder: Holder): Promise<Session> {
    const url = new URL("cluster", holder.clusterUrl!.replace(/\/?$/, "/"));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    let ws: WebSocket;
    try {
      ws = await openWebSocket(url.href, {
        headers: {
          authorization: `Bearer ${this.#secret}`,
          "x-conduit-hub": this.leases.hubId,
          "x-conduit-peer": `${PEER_ASKS}, ${PEER_ASKS_RELAYS}`,
        },
        timeoutMs: 5000,
        client: url.protocol === "wss:" ? this.#client : undefined,
      });
    } catch (err) {
      const message = (err as Error).message;
      // Once per hub and reason until a link opens (each request for its sites tries again).
      if (this.#failures.get(holder.hubId) === message) throw err;
      this.#failures.set(holder.hubId, message);
      // A certificate the hub does not trust is a configuration to fix, not a hub down: say which.
      const tls = /certificate|tls|handshake/i.test(message);
      this.log.warn(
        tls
          ? "hub link refused: the other hub's TLS certificate is not trusted (clusterCaFile)"
          : "hub link failed",
        { hub: holder.hubId, url: url.href, message },
      );
      throw err;
    }
    this.#failures.delete(holder.hubId);
    const session = new Session(webSocketTransport(ws), {
      side: "client",
      maxStreams: MAX_STREAMS,
      onClose: (end) => {
        logLinkEnd(this.log, "hub link ended", holder.hubId, end);
        if (this.#peers.get(holder.hubId) === current) this.#peers.delete(holder.hubId);
      },
    });
    const current = Promise.resolve(session);
    this.#peers.set(holder.hubId, current);
    keepAlive(session);
    this.log.info("hub link opened", { hub: holder.hubId });
    return session;
  }

  /** `/cluster`: other hubs of the cluster connect here. */
  routes(): Hono {
    const app = new Hono();
    app.get("/", (c) => {
      const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
      const given = new TextEncoder().encode(m?.[1] ?? "");
      const secret = new TextEncoder().encode(this.#secret ?? "");
      if (!this.#secret || given.length !== secret.length || !timingSafeEqual(given, secret)) {
        this.log.warn("hub link refused: bad cluster secret");
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
        onStream: (stream) => void this.#serve(stream, from, wantsFeatures, wantsRelays),
        onClose: (end) => logLinkEnd(this.log, "hub link from a peer ended", peer, end),
      });
      keepAlive(session);
      this.#inbound.add(session);
      session.ended.then(() => this.#inbound.delete(session));
      return response;
    });
    return app;
  }

  readonly #inbound = new Set<Session>();

  async #serve(
    stream: Stream,
    from: InboundLink,
    wantsFeatures: boolean,
    wantsRelays: boolean,
  ): Promise<void> {
    const channel = new Channel(stream);
    // Said in every answer to a hub that asks: it may then name a relay's flow in its opens.
    const relays = wantsRelays ? { relays: true as const } : {};
    let counted = false;
    let open: z.infer<typeof Open>;
    // A stream that names no request is not held for the link's life (up to MAX_STREAMS of them).
    const silent = setTimeout(() => stream.reset("no request on the stream in time"), this.openWaitMs);
    try {
      open = await channel.expect(Open);
      clearTimeout(silent);
    } catch (err) {
      clearTimeout(silent);
      // Not an open this hub takes (another version, or not a hub): that stream ends, the link goes on.
      // Logged when the other hub sent something that is no open (not a stream it reset or ended empty, nor
      // the link ending under it: those are no ChannelError, or one of a stream that ended), the first
      // REFUSALS_LOGGED times a link.
      this.#count("in", "failed");
      const sent = err instanceof ChannelError && !err.message.startsWith("stream ended");
      if (sent && ++from.refused <= REFUSALS_LOGGED) {
        this.log.warn("a hub's request refused", {
          hub: from.hub,
          reason: err.message.slice(0, 300),
          ...(from.refused === REFUSALS_LOGGED ? { more: "the link's further refusals are not logged" } : {}),
        });
      }
      stream.reset("bad hub request");
      return;
    }
    try {
      const { site, probe, relay } = open;
      if (probe) {
        const here = this.featuresHere(site);
        await channel.send(here ? { ok: true, features: [...here], ...relays } : { ok: false, ...relays });
        await channel.end();
        return;
      }
      let to: Stream | undefined, busy: string | undefined;
      try {
        to = await this.local(site);
      } catch (err) {
        busy = (err as Error).message;
      }
      if (!to) {
        this.#count("in", busy ? "failed" : "not-here");
        counted = true;
        await channel.send({
          ok: false,
          message: busy ?? `site ${site} is not connected to this hub (it may be moving)`,
          ...relays,
        });
        await channel.end();
        return;
      }
      // A relay into the site waits on its downlink cap here, with the relays from this hub's own sources.
      let throttle: Awaited<ReturnType<DownlinkLimiter>>;
      try {
        throttle = relay && await this.downlink?.(site, relay);
      } catch (err) {
        to.reset("the hub could not read the site's downlink cap");
        throw err;
      }
      const features = wantsFeatures ? this.featuresHere(site) : undefined;
      await channel.send(
        features ? { ok: true, features: [...features], ...relays } : { ok: true, ...relays },
      );
      this.#count("in", "ok");
      counted = true;
      stream.grow(PEER_EXTRA_WINDOW);
      to.grow(PEER_EXTRA_WINDOW);
      await splice(stream, to, channel.detach(), "the site's stream failed", throttle);
    } catch {
      if (!counted) this.#count("in", "failed");
      stream.reset("bad hub request");
    }
  }

  /** Closes every link to and from other hubs. */
  stop(): void {
    for (const s of this.#peers.values()) {
      s.then((x) => x.close(Reason.Normal, "hub stopping")).catch(() => {});
    }
    this.#peers.clear();
    for (const s of this.#inbound) s.close(Reason.Normal, "hub stopping");
    this.#client?.close();
    for (const c of this.#replaced.splice(0)) c.close();
  }
}
