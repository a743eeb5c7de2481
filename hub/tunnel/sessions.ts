/**
 * The live sessions, one per site: heartbeats (ping, round trip, half-open detection), the agent's
 * status (queue depth), revocation, and the facts written back to the site registry. A second
 * session from the same site replaces the first (the agent reconnected before the hub saw the old
 * socket die); sessions that keep replacing each other are warned of (./replacements.ts).
 */
import {
  type AskOp,
  type DetailOf,
  FEATURE_COMMITMENT_STATE,
  FEATURE_QUEUE_HELD,
  FEATURE_SITE_ONLINE,
  framePayloadFor,
  type Op,
  Reason,
  reasonName,
  type ReplyOf,
  Request,
  RequestChannel,
  type RequestOf,
  Session,
  type Stream,
  StreamsBusyError,
  type Transport,
} from "@conduit/shared/tunnel";
import { StallGuard } from "@conduit/shared/stall-guard";
import type { Logger } from "@conduit/shared/log";
import type { SeenFacts, SiteRegistry } from "../sites/registry.ts";
import { dbFailureReason } from "../db/errors.ts";
import { type RelayLimiter, relayStream } from "./relay.ts";
import type { Throttle } from "../transfers/bandwidth.ts";
import type { RelayPolicy } from "./relay_policy.ts";
import { SiteBusyError, SiteRequestError, SiteUnavailableError, UnknownSiteError } from "./errors.ts";
import { REPLACEMENTS_WINDOW_MS, ReplacementWatch } from "./replacements.ts";
import { SiteWaiters } from "./site_waiters.ts";

export { SiteBusyError, SiteRequestError, SiteUnavailableError };

/**
 * How long a request waits for one of the streams a site's agent takes at once (256) to end, when all are
 * in use, before it is answered SiteBusyError (503): requests beyond the agent's limit queue, first come
 * first served, instead of being refused by the agent.
 */
const STREAM_WAIT_MS = 10_000;

/** The operations whose answer is replies only, no bytes (`replies()` reads them). */
export type RecordOp = Exclude<Op, "retrieve" | "store" | "relay" | "frames" | "render" | "bulkdata">;

/** Heartbeats between two status requests to each site (its queue depth). */
const STATUS_EVERY = 6;

/** Replies after which nothing more comes. */
const LAST = new Set(["end", "error", "ok", "status"]);

export interface SiteSession {
  site: string;
  session: Session;
  agentVersion: string;
  remoteAddress: string;
  /** What the agent named in its hello beyond protocol version 1 (hello.ts). */
  features: ReadonlySet<string>;
  connectedAt: number;
  rttMs?: number;
  queueDepth?: number;
  /**
   * Of the queue depth, objects stored at a node that commits and awaiting its Storage Commitment report
   * (undefined: an agent that cannot say, FEATURE_COMMITMENT_STATE, or not asked yet).
   */
  committing?: number;
  /** Of the queue depth, rows a window holds (undefined: an agent that cannot say, FEATURE_QUEUE_HELD). */
  held?: number;
  lastSeenAt: number;
  /** Tunnel bytes per second (in and out), one sample per heartbeat, the latest last (at most 24). */
  throughput: number[];
  lastBytes: number;
  /** The heartbeat that took the latest throughput sample. */
  sampledAt?: number;
  /**
   * The facts as last written to the registry, with the heartbeat of the samples written (a sync writes
   * only the sites whose facts moved).
   */
  synced?: SeenFacts & { sampledAt?: number };
  /** The registry says the site is online: the write at connect succeeded (else each sync tries again). */
  registered?: boolean;
}

/** The rest of a cluster of hubs (hub/cluster/): where the sites this hub does not hold are. */
export interface Elsewhere {
  /** This hub holds `site` now / no longer. */
  claim(site: string): Promise<void>;
  release(site: string): Promise<void>;
  /** Whether another hub holds `site`. */
  heldElsewhere(site: string): boolean;
  /** A stream to the agent of `site` through the hub that holds it (throws when none can be had). */
  open(site: string): Promise<Stream>;
  /**
   * The same for a relay into `site` from `from` under `route`: `downlinkApplied` when the hub holding it
   * applies the site's downlink cap to the stream (then this hub does not).
   */
  openRelay?(
    site: string,
    flow: { from: string; route?: string },
  ): Promise<{ stream: Stream; downlinkApplied: boolean }>;
  /** The features the agent of `site` named in its hello, as the hub holding it says (undefined: unknown). */
  features?(site: string): Promise<ReadonlySet<string> | undefined>;
}

export interface SessionsOptions {
  heartbeatSeconds?: number;
  /** A ping unanswered this long ends the session. */
  heartbeatTimeoutSeconds?: number;
  /** How often live facts are written to the registry and revocations read from it. */
  syncSeconds?: number;
}

export class Sessions {
  readonly #live = new Map<string, SiteSession>();
  readonly #replacements = new ReplacementWatch();
  /** Which sites wait for which to connect (site_waiters.ts). */
  readonly #waiters = new SiteWaiters();
  /** Of the sites waited for, those another hub of a cluster held at the last look (#waitedElsewhere). */
  readonly #heldElsewhere = new Set<string>();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly heartbeatSeconds: number;
  /** A ping unanswered this long ends a session (told to agents in the welcome, which use it too). */
  readonly heartbeatTimeoutSeconds: number;
  readonly #timeoutMs: number;
  /** Frames in and out over every session, for metrics. */
  bytesIn = 0;
  bytesOut = 0;
  /** `siteOnline` requests sent: a site told that one it waited for connected (#tellOnline). */
  sitesTold = 0;

  constructor(
    private readonly registry: SiteRegistry,
    private readonly log: Logger,
    options: SessionsOptions = {},
  ) {
    this.heartbeatSeconds = options.heartbeatSeconds ?? 5;
    this.heartbeatTimeoutSeconds = options.heartbeatTimeoutSeconds ?? 10;
    this.#timeoutMs = this.heartbeatTimeoutSeconds * 1000;
    this.#timers.push(setInterval(() => this.#heartbeat(), this.heartbeatSeconds * 1000));
    this.#checkMs = Math.min(1000, this.#timeoutMs / 4);
    this.#stalls = new StallGuard(this.#checkMs);
    this.#timers.push(setInterval(() => this.#lateBeats(), this.#checkMs));
    this.#timers.push(setInterval(() => void this.sync(), (options.syncSeconds ?? 2) * 1000));
    this.#timers.push(setInterval(() => this.#waitedElsewhere(), 1000));
  }

  /** Bandwidth caps for relayed objects (the transfer service's), set once the hub is assembled. */
  relayLimiter?: RelayLimiter;

  /**
   * The downlink cap alone of a site held here, for a relay into it that another hub of a cluster carries
   * (that hub applies the job's and the source's caps), set once the hub is assembled.
   */
  relayDownlink?: (
    fromSite: string,
    route: string | undefined,
    toSite: string,
  ) => Promise<Throttle | undefined>;

  /** Which sites may relay to which (`tunnel.relays`), set once the hub is assembled; any to any without. */
  relayPolicy?: RelayPolicy;

  /** The other hubs of a cluster, if this hub is one of several on a shared database. */
  elsewhere?: Elsewhere;

  /** Whether `site` can be asked now: connected here, or to another hub of the cluster. */
  online(site: string): boolean {
    return this.#live.has(site) || this.elsewhere?.heldElsewhere(site) === true;
  }

  /** A new stream to the agent of `site`: on its session here, or through the hub that holds it. */
  async open(site: string): Promise<Stream> {
    const live = this.#live.get(site);
    if (live) return await this.#openOn(live);
    if (this.elsewhere) {
      try {
        return await this.elsewhere.open(site);
      } catch (err) {
        throw new SiteUnavailableError((err as Error).message);
      }
    }
    throw new SiteUnavailableError(`site ${site} is not connected`);
  }

  /**
   * A stream to `site` for a relay into it from `from` under `route`: `downlinkApplied` when the hub of a
   * cluster that holds the site applies its downlink cap (this hub then applies only the others).
   */
  async openRelay(
    site: string,
    flow: { from: string; route?: string },
  ): Promise<{ stream: Stream; downlinkApplied: boolean }> {
    const live = this.#live.get(site);
    if (live) return { stream: await this.#openOn(live), downlinkApplied: false };
    if (!this.elsewhere?.openRelay) return { stream: await this.open(site), downlinkApplied: false };
    try {
      return await this.elsewhere.openRelay(site, flow);
    } catch (err) {
      throw new SiteUnavailableError((err as Error).message);
    }
  }

  /** A stream to the agent of a site held here, once the agent takes one more (STREAM_WAIT_MS). */
  async #openOn(live: SiteSession): Promise<Stream> {
    try {
      return await live.session.openWhenFree(STREAM_WAIT_MS);
    } catch (err) {
      if (!(err instanceof StreamsBusyError)) throw err;
      throw new SiteBusyError(
        `site ${live.site} has as many requests open at once as its agent takes (256), and none ended within ` +
          `${STREAM_WAIT_MS / 1000} s: try again later`,
      );
    }
  }

  get(site: string): SiteSession | undefined {
    return this.#live.get(site);
  }

  list(): SiteSession[] {
    return [...this.#live.values()];
  }

  /**
   * Whether the agent of `site`, connected to this hub, named `feature` in its hello; false for a site
   * held by another hub of a cluster (asked then as an agent of protocol version 1 is).
   */
  supports(site: string, feature: string): boolean {
    return this.#live.get(site)?.features.has(feature) ?? false;
  }

  /**
   * The features the agent of `site` named in its hello, connected here or to another hub of a cluster
   * (which is asked); undefined when no hub can say (offline, or held by a hub older than the question).
   */
  async featuresOf(site: string): Promise<ReadonlySet<string> | undefined> {
    const live = this.#live.get(site);
    if (live) return live.features;
    if (!this.elsewhere?.heldElsewhere(site) || !this.elsewhere.features) return undefined;
    return await this.elsewhere.features(site);
  }

  /** Starts a session for a site whose hello was accepted. */
  attach(
    site: string,
    transport: Transport,
    facts: { agentVersion: string; remoteAddress: string; maxFrame?: number; features?: string[] },
  ): Session {
    const log = this.log.child({ site });
    const previous = this.#live.get(site);
    if (previous) {
      log.info("a new session replaces the site's previous one");
      const replacements = this.#replacements.replaced(site);
      if (replacements !== undefined) {
        log.warn("site sessions keep replacing each other", {
          replacements,
          withinMinutes: REPLACEMENTS_WINDOW_MS / 60_000,
          previousAddress: previous.remoteAddress,
          remoteAddress: facts.remoteAddress,
          hint:
            "two agents may hold this site's credential (a copied data directory, or a leaked credential): " +
            "stop the one that should not run; if the credential may have leaked, revoke the site and enroll " +
            "its agent again (admin site revoke, admin site add)",
        });
      }
      this.#live.delete(site);
      previous.session.close(Reason.Replaced, "replaced by a newer session");
    }
    const session = new Session(transport, {
      side: "server",
      sendPayload: framePayloadFor(facts.maxFrame),
      onStream: (stream) =>
        void relayStream(
          site,
          stream,
          (s, flow) => this.openRelay(s, flow),
          log,
          this.relayLimiter,
          this.relayPolicy,
          (s) =>
            this.registry.require(s).then(
              () => undefined,
              (err) => err instanceof UnknownSiteError ? (err as Error).message : undefined,
            ),
          (s) => this.#waitFor(s, site, log),
        ),
      onClose: (end) => {
        const current = this.#live.get(site);
        this.bytesIn += session.bytesIn;
        this.bytesOut += session.bytesOut;
        if (current?.session !== session) return;
        this.#live.delete(site);
        const fields = { reason: reasonName(end.reason), message: end.message, local: end.local };
        if (end.reason === Reason.Normal) log.info("site session ended", fields);
        else log.warn("site session ended", fields);
        this.elsewhere?.release(site).catch((err) =>
          log.error("site lease release failed", { reason: dbFailureReason(err) })
        );
        void this.#settle(site, log);
      },
    });
    const { features, ...seen } = facts;
    const entry: SiteSession = {
      site,
      session,
      ...seen,
      features: new Set(features),
      connectedAt: Date.now(),
      lastSeenAt: Date.now(),
      throughput: [],
      lastBytes: 0,
    };
    this.#live.set(site, entry);
    // A first heartbeat at once (it leaves after the welcome): the round trip is known at the next sync,
    // within 2 s, not at the second heartbeat after the connect (10 s with the default 5 s).
    session.beat();
    this.elsewhere?.claim(site).catch((err) =>
      log.error("site lease claim failed", { reason: dbFailureReason(err) })
    );
    log.info("site connected", { agentVersion: facts.agentVersion, remoteAddress: facts.remoteAddress });
    void this.#settle(site, log, true);
    void this.#status(entry);
    this.#tellOnline(site, log);
    return session;
  }

  /**
   * `waiter`'s relay to `site` was refused, `site` not being connected: `waiter` is told when it connects
   * (site_waiters.ts), or at once if it connected here meanwhile.
   */
  #waitFor(site: string, waiter: string, log: Logger): void {
    this.#waiters.wait(site, waiter);
    // Held by another hub that could not be reached: not news when the next poll sees it held.
    if (this.elsewhere?.heldElsewhere(site)) this.#heldElsewhere.add(site);
    if (this.#live.has(site)) queueMicrotask(() => this.#tellOnline(site, log));
  }

  /**
   * Every second, in a cluster: the sites waited for that another hub has come to hold since the last look are
   * told to their waiters. Only the change is news: a site held by a hub that cannot be reached would otherwise
   * make its waiters try again every second, each refused again.
   */
  #waitedElsewhere(): void {
    if (!this.elsewhere) return;
    const waited = new Set(this.#waiters.waited());
    for (const site of this.#heldElsewhere) if (!waited.has(site)) this.#heldElsewhere.delete(site);
    for (const site of waited) {
      if (!this.elsewhere.heldElsewhere(site)) this.#heldElsewhere.delete(site);
      else if (!this.#heldElsewhere.has(site)) {
        this.#heldElsewhere.add(site);
        this.#tellOnline(site, this.log.child({ site }));
      }
    }
  }

  /**
   * Tells the sites connected here that waited for `site` (their relays to it were refused, it was not
   * connected) that it is (FEATURE_SITE_ONLINE): their rows for it go now rather than at the end of each one's
   * backoff. Best effort: a site that does not answer within 10 s is let be (its rows wait their backoff), as
   * is a waiting site no longer connected here (its own rows go once its tunnel is back).
   */
  #tellOnline(site: string, log: Logger): void {
    for (const other of this.#waiters.take(site)) {
      const entry = this.#live.get(other);
      if (other === site || !entry?.features.has(FEATURE_SITE_ONLINE)) continue;
      this.sitesTold++;
      this.ask(other, { op: "siteOnline", site }, AbortSignal.timeout(10_000)).then(
        (d) => d.due > 0 && log.info("a site's rows for this one are due now", { to: other, due: d.due }),
        (err) =>
          log.debug("could not tell a site this one connected", {
            to: other,
            reason: (err as Error).message,
          }),
      );
    }
  }

  /**
   * Opens a stream to a site's agent (here or through the hub that holds it) and sends `request`; the
   * caller reads the replies, each one of those its operation may get (`channel.reply()`).
   */
  async call<O extends Op>(site: string, request: RequestOf<O>): Promise<RequestChannel<O>> {
    const channel = new RequestChannel(await this.open(site), request.op as O);
    await channel.send(Request.parse(request));
    return channel;
  }

  /** The replies to `request`, validated, until `end` or `error` (an error reply is thrown). */
  async *replies<O extends RecordOp>(
    site: string,
    request: RequestOf<O>,
    signal?: AbortSignal,
  ): AsyncGenerator<ReplyOf<O>> {
    const channel = await this.call(site, request);
    const abort = () => channel.stream.reset("cancelled");
    signal?.addEventListener("abort", abort);
    // Aborted while the stream was opened (a site that answers late): nothing to wait for.
    if (signal?.aborted) abort();
    try {
      while (true) {
        const reply = await channel.reply();
        yield reply;
        if (LAST.has(reply.type)) break;
      }
    } finally {
      signal?.removeEventListener("abort", abort);
      channel.stream.reset("done");
    }
  }

  /** The detail of a request a site answers with `ok`; its `error` reply is thrown as SiteRequestError. */
  async ask<O extends AskOp>(
    site: string,
    request: RequestOf<O>,
    signal?: AbortSignal,
  ): Promise<DetailOf<O>> {
    for await (const reply of this.replies<O>(site, request, signal)) {
      if (reply.type === "ok") return reply.detail as DetailOf<O>;
      if (reply.type === "error") throw new SiteRequestError(reply.code, reply.message, reply.status);
    }
    throw new SiteRequestError("failed", `site ${site} ended its answer without a result`);
  }

  /** Each site's registry write under way, the next one waiting for it (see #settle). */
  readonly #writes = new Map<string, Promise<void>>();

  /**
   * Writes the site's row as its sessions here stand when the write runs: online with the live session's facts
   * (once per session), or offline when none is live. A site's writes run one at a time in the order asked,
   * each asked after the event it follows (a session started, ended, a retry), so the last write is always
   * the site's state now. Until 2026-12-06 a session's start and the end of the one before it wrote
   * independently, and a write slowed by the database could land last: an end read the row (online), the
   * replacement wrote online, then the end wrote offline, or a replaced session's slow start wrote online
   * and then offline after its replacement's; either way the site showed offline, its tunnel working, until
   * it reconnected.
   *
   * A start that fails (the database away or locked a moment) is tried again at each sync while the session
   * lasts: until 2026-12-05 it was only logged. The tunnel is not refused for it: the session works without
   * the row, and a database away would otherwise keep every agent out.
   */
  #settle(site: string, log: Logger, first = false): Promise<void> {
    const run = (this.#writes.get(site) ?? Promise.resolve()).then(() => this.#write(site, log, first));
    this.#writes.set(site, run);
    void run.then(() => {
      if (this.#writes.get(site) === run) this.#writes.delete(site);
    });
    return run;
  }

  async #write(site: string, log: Logger, first: boolean): Promise<void> {
    const entry = this.#live.get(site);
    if (!entry) {
      await this.registry.disconnected(site).catch((err) =>
        log.error("registry update failed", { reason: dbFailureReason(err) })
      );
      return;
    }
    if (entry.registered) return;
    const { agentVersion, remoteAddress } = entry;
    try {
      await this.registry.connected(site, { agentVersion, remoteAddress });
    } catch (err) {
      if (first) {
        log.error("registry update failed: the site shows offline until a retry succeeds", {
          reason: dbFailureReason(err),
        });
      }
      return;
    }
    entry.registered = true;
    if (!first) log.info("site marked online in the registry at a retry");
  }

  async #status(entry: SiteSession): Promise<void> {
    try {
      // An agent of an earlier version refuses the field: asked only of those that name the feature.
      const committing = entry.features.has(FEATURE_COMMITMENT_STATE) ? { committing: true as const } : {};
      const held = entry.features.has(FEATURE_QUEUE_HELD) ? { held: true as const } : {};
      for await (const reply of this.replies(entry.site, { op: "status", ...committing, ...held })) {
        if (reply.type !== "status") continue;
        entry.queueDepth = reply.queueDepth;
        entry.committing = reply.committing;
        entry.held = reply.held;
      }
    } catch { /* the next heartbeat asks again */ }
  }

  /** Heartbeats so far: each site is asked its status (queue depth) at every sixth of them. */
  #beats = 0;

  #heartbeat(): void {
    // Each site every STATUS_EVERY beats, the sites spread over the beats (a sixth of them each beat). Until
    // 2026-12-05 the count started again at every beat: a hub with fewer than six sites asked none.
    const beat = ++this.#beats;
    let i = 0;
    for (const entry of this.#live.values()) {
      const status = (beat + i++) % STATUS_EVERY === 0;
      const { session } = entry;
      const bytes = session.bytesIn + session.bytesOut;
      entry.throughput.push(Math.round((bytes - entry.lastBytes) / this.heartbeatSeconds));
      if (entry.throughput.length > 24) entry.throughput.shift();
      entry.sampledAt = beat;
      entry.lastBytes = bytes;
      this.#takeBeat(entry);
      session.beat();
      if (status) void this.#status(entry);
    }
  }

  /** The round trip and time of the site's last answered heartbeat, into its facts. */
  #takeBeat(entry: SiteSession): void {
    const { session } = entry;
    if (session.beatAnsweredAt === undefined) return;
    entry.rttMs = session.beatRttMs;
    entry.lastSeenAt = session.beatAnsweredAt;
  }

  /** How often unanswered heartbeats are checked. */
  readonly #checkMs: number;
  /** Whether a check may judge, or comes right after this process's event loop was held. */
  readonly #stalls: StallGuard;

  /**
   * Ends the sessions whose heartbeat went unanswered for the timeout (checked every second, or a quarter of
   * the timeout). A check that comes late (this process's event loop was held: a long synchronous call, a
   * machine out of CPU) judges nothing until the loop has run for one more period: the answers that came
   * meanwhile wait in the sockets, and the timers run before them. Until 2026-12-06 the first check after a
   * stall as long as the timeout closed every session, answered or not.
   */
  #lateBeats(): void {
    if (!this.#stalls.mayJudge()) return;
    for (const { site, session } of this.#live.values()) {
      if (session.beatUnansweredMs <= this.#timeoutMs) continue;
      this.log.warn("site missed its heartbeat; closing the session", { site });
      session.close(Reason.HeartbeatTimeout, "no answer to ping");
    }
  }

  #syncing = false;

  /**
   * Writes live facts to the registry and closes sessions of sites revoked meanwhile. A round still
   * running when the next is due (a slow database) makes the next one skip rather than pile up.
   */
  async sync(): Promise<void> {
    if (this.#syncing) return;
    this.#syncing = true;
    try {
      const revoked = await this.registry.revokedNames();
      for (const entry of [...this.#live.values()]) {
        if (!entry.registered && !revoked.has(entry.site)) {
          await this.#settle(entry.site, this.log.child({ site: entry.site }), false);
        }
      }
      const facts: SeenFacts[] = [];
      const written: [SiteSession, NonNullable<SiteSession["synced"]>][] = [];
      for (const [site, entry] of this.#live) {
        if (revoked.has(site)) {
          this.log.warn("site revoked; closing its session", { site });
          entry.session.close(Reason.Revoked, "the site was revoked");
          continue;
        }
        this.#takeBeat(entry);
        const last = entry.synced;
        // The samples are written when a heartbeat added one (at most once a sample period), not every sync.
        const samples = entry.throughput.length === 0 || entry.sampledAt === last?.sampledAt
          ? undefined
          : [...entry.throughput];
        if (
          last?.lastSeenAt === entry.lastSeenAt && last.rttMs === entry.rttMs &&
          last.queueDepth === entry.queueDepth && last.committing === entry.committing &&
          last.held === entry.held && !samples
        ) continue;
        const fact = {
          site,
          lastSeenAt: entry.lastSeenAt,
          rttMs: entry.rttMs,
          queueDepth: entry.queueDepth,
          committing: entry.committing,
          held: entry.held,
          throughput: samples,
        };
        facts.push(fact);
        written.push([entry, { ...fact, sampledAt: samples ? entry.sampledAt : last?.sampledAt }]);
      }
      await this.registry.seen(facts);
      for (const [entry, fact] of written) entry.synced = fact;
    } catch (err) {
      this.log.error("site registry sync failed", { reason: dbFailureReason(err) });
    } finally {
      this.#syncing = false;
    }
  }

  /** Closes the session of `site` now (after a revoke through this process). */
  drop(site: string, reason: Reason, message: string): void {
    this.#live.get(site)?.session.close(reason, message);
  }

  /** GoAway to every agent, then close. */
  async stop(graceMs = 2000): Promise<void> {
    for (const t of this.#timers) clearInterval(t);
    await Promise.all([...this.#live.values()].map((e) => e.session.shutdown(graceMs)));
    // The ended sessions' rows written offline before the hub closes its database.
    await Promise.all([...this.#writes.values()]);
  }
}
