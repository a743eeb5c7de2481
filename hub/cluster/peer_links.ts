/**
 * The asking side of the links between hubs (peers.ts): one link to each hub that holds sites asked for,
 * opened on the first request for one of them, and a stream opened on it per request (the site named, the
 * holder's answer read); the features of sites held elsewhere, as their hubs last named them.
 *
 * A hub whose cluster URL is `https://` (its own `tls`) is reached over wss: its certificate must chain to
 * the system's roots or to `clusterCaFile`; one that does not is refused, and said in the log.
 */
import {
  Channel,
  openWebSocket,
  Reason,
  Session,
  type Stream,
  webSocketTransport,
} from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import type { ClusterLeases, Holder } from "./leases.ts";
import {
  Answer,
  FEATURES_MS,
  keepAlive,
  logLinkEnd,
  MAX_STREAMS,
  PEER_ASKS,
  PEER_ASKS_RELAYS,
  type RelayFlow,
  SiteElsewhereError,
} from "./peer_wire.ts";

export class PeerLinks {
  readonly #peers = new Map<string, Promise<Session>>();
  /** The HTTP client wss links are opened with when `clusterCaFile` adds CAs to trust. */
  #client?: Deno.HttpClient;
  /** Clients a reload replaced: links they opened may still be up, so they are closed at stop(). */
  readonly #replaced: Deno.HttpClient[] = [];
  /** The last failure to open a link to each hub, logged once. */
  readonly #failures = new Map<string, string>();
  /** Each remote site's features as its hub last named them, the hub, and when (performance.now(): monotonic). */
  readonly #features = new Map<string, { features: ReadonlySet<string>; hubId: string; at: number }>();
  /** Whether the hub at the other end of each link takes `relay` (known once it answered on the link). */
  readonly #relays = new WeakMap<Session, boolean>();
  /** The probe under way on each link whose answer on `relay` is not known yet. */
  readonly #asking = new WeakMap<Session, Promise<boolean>>();

  constructor(
    private readonly leases: ClusterLeases,
    private readonly log: Logger,
    /** The cluster secret, sent as the bearer token of each link (read at start). */
    private readonly secret: () => string | undefined,
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
    if (known && holder && known.hubId === holder.hubId && performance.now() - known.at < FEATURES_MS) {
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
        this.#features.set(site, { features, hubId: holder.hubId, at: performance.now() });
        return features;
      } finally {
        channel.stream.reset("done");
      }
    } catch {
      // A hub older than the probe resets the stream; one that cannot be reached says nothing either.
      return undefined;
    }
  }

  async openRelay(site: string, relay?: RelayFlow): Promise<{ stream: Stream; downlinkApplied: boolean }> {
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
        this.#features.set(site, {
          features: new Set(answer.features),
          hubId: holder.hubId,
          at: performance.now(),
        });
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
          authorization: `Bearer ${this.secret()}`,
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

  /** Closes every link to other hubs, and the HTTP clients they were opened with. */
  stop(): void {
    for (const s of this.#peers.values()) {
      s.then((x) => x.close(Reason.Normal, "hub stopping")).catch(() => {});
    }
    this.#peers.clear();
    this.#client?.close();
    for (const c of this.#replaced.splice(0)) c.close();
  }
}
