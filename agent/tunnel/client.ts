/**
 * The agent's side of the tunnel: connects out to the hub (never listens), authenticates with the
 * site credential in a header, and keeps the session up: heartbeats find a half-open link within
 * `heartbeat + timeout` seconds, and a lost session is retried with capped exponential backoff and
 * full jitter. With several hubs (a cluster), each round tries them in order, the next one at once
 * after a failure, and backs off between rounds. Streams the hub opens are handed to `serve`.
 */
import type { HubTls } from "../config/tls_files.ts";
import {
  Channel,
  clientHandshake,
  framePayloadFor,
  HandshakeError,
  isInvalidHelloRefusal,
  Reason,
  reasonName,
  Request,
  Session,
} from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import { commandOf } from "@conduit/shared/cli";
import { openTunnelSocket } from "./socket.ts";
import { backoffMs } from "../queue/policy.ts";
import { keepBeating } from "./heartbeat.ts";
import { hubUrls } from "./hub_urls.ts";
import type { ProxySetting } from "./proxy.ts";

export type TunnelState = "connecting" | "online" | "offline" | "stopped";

export interface TunnelClientOptions {
  /** The hub's tunnel URL, or several hubs' separated by commas: tried in order. */
  url: string;
  site: string;
  credential: string;
  agentVersion: string;
  /** For `wss`: PEM certificates to trust besides the system's, and the site's client certificate. */
  tls?: HubTls;
  /** The outbound HTTP proxy to reach a hub's URL through, if any (hub.proxy, HTTPS_PROXY...: ./proxy.ts). */
  proxy?: (url: string) => ProxySetting | undefined;
  /** Answers one request on its stream. */
  serve(request: Request, channel: Channel): Promise<void>;
  log: Logger;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /**
   * How long an attempt to open the tunnel's connection (TCP, TLS, the WebSocket upgrade, a proxy's CONNECT)
   * may take before it is given up and retried; default 10 s (`hub.connectTimeoutSeconds`).
   */
  connectTimeoutMs?: number;
  /**
   * A ping unanswered this long ends the session when the hub's welcome names no timeout (a hub from
   * before `heartbeatTimeoutSeconds`); default 10 s. The hub's timeout wins when it names one.
   */
  heartbeatTimeoutMs?: number;
}

export class TunnelClient {
  state: TunnelState = "offline";
  session?: Session;
  /** Times a session was established. */
  connections = 0;
  lastError?: string;
  readonly #o: TunnelClientOptions;
  #stopping = false;
  /** Aborted by stop(): a connection being opened or greeted ends at once. */
  readonly #stop = new AbortController();
  #loop?: Promise<void>;
  #wake?: () => void;
  #held = false;

  constructor(options: TunnelClientOptions) {
    this.#o = options;
  }

  /**
   * The credential to connect with from now on (the hub rotated it and it is saved). The session open
   * now goes on: it was authenticated when it opened.
   */
  setCredential(credential: string): void {
    this.#o.credential = credential;
  }

  /**
   * The CA certificates and client certificate to connect with from now on (renewed files, SIGHUP). The
   * session open now goes on: TLS checked the certificates at its handshake only.
   */
  setTls(tls: HubTls): void {
    this.#o.tls = tls;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** GoAway to the hub, a short grace for open streams, then close. */
  async stop(graceMs = 2000): Promise<void> {
    this.#stopping = true;
    this.#stop.abort();
    this.#wake?.();
    await this.session?.shutdown(graceMs);
    await this.#loop;
    this.state = "stopped";
  }

  async #run(): Promise<void> {
    const { log } = this.#o;
    const urls = hubUrls(this.#o.url);
    let attempt = 0;
    let next = 0;
    while (!this.#stopping) {
      this.state = "connecting";
      const url = urls[next];
      try {
        await this.#connectOnce(url);
      } catch (err) {
        if (this.#stopping) break; // the attempt was ended by stop()
        this.lastError = (err as Error).message;
        const refused = err instanceof HandshakeError &&
          (err.reason === Reason.BadCredential || err.reason === Reason.Revoked ||
            err.reason === Reason.BadVersion);
        if (refused) {
          const reason = (err as HandshakeError).reason;
          log.error("the hub refused this agent", {
            reason: reasonName(reason),
            message: this.lastError,
            // What to do: a credential the hub does not take (revoked, or a hub restored from a backup
            // older than its rotation) is replaced only by enrolling again.
            fix: reason === Reason.BadVersion
              ? "run an agent version this hub speaks (upgrade the hub before its agents)"
              : `enroll again: on the hub, ${
                commandOf("hub")
              } admin site revoke ${this.#o.site} then site add ` +
                `${this.#o.site}; here, stop this agent, run ${commandOf("agent")} enroll --token TOKEN ` +
                "with its configuration, and start it again",
          });
        } else {log.warn("tunnel connection failed", {
            reason: this.lastError,
            ...(urls.length > 1 ? { hub: url } : {}),
          });}
      }
      this.state = "offline";
      if (this.#stopping) break;
      // Several hubs: after a failure the next one is tried at once; a round that failed backs off.
      if (!this.#held && next + 1 < urls.length) {
        next++;
        continue;
      }
      next = 0;
      // A session that held for a while starts the backoff over; a link that keeps failing backs off.
      // (#held is cleared here: it stays true after the session ended, and every failed attempt that
      // followed would otherwise start the backoff over.)
      if (this.#held) {
        attempt = 0;
        this.#held = false;
      }
      const delay = backoffMs(++attempt, this.#o.backoffBaseMs ?? 500, this.#o.backoffCapMs ?? 30_000);
      log.info("reconnecting to the hub", { inMs: delay, attempt });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.#wake = () => (clearTimeout(t), resolve());
      });
    }
  }

  /** A socket to `url` and its hello: the welcome and the transport of the session. */
  async #greet(url: string, minimal: boolean) {
    const o = this.#o;
    const ws = await openTunnelSocket(
      url,
      { authorization: `Bearer ${o.credential}` },
      o.tls,
      o.connectTimeoutMs,
      this.#stop.signal,
      o.proxy?.(url),
    );
    // A hub that took the connection but does not greet: the handshake ends when the agent stops.
    const onStop = () => (ws as unknown as { terminate(): void }).terminate();
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      return await clientHandshake(ws, { site: o.site, agentVersion: o.agentVersion }, undefined, minimal);
    } finally {
      this.#stop.signal.removeEventListener("abort", onStop);
    }
  }

  /** One session, from socket to end. Resolves when it ends; throws if it could not start. */
  async #connectOnce(url: string): Promise<void> {
    const o = this.#o;
    let hello;
    let minimal = false;
    try {
      hello = await this.#greet(url, false);
    } catch (err) {
      if (!isInvalidHelloRefusal(err) || this.#stopping) throw err;
      // A hub from before maxFrame and features (2026-12-04) refuses a hello with fields it does not know:
      // greet it as the agents it knows did, at once, rather than never connecting until it is upgraded.
      o.log.warn("the hub does not read this agent's hello; greeting it as an agent of its time", {
        reason: (err as Error).message,
        fix: "upgrade the hub (hubs before their agents): until then 64 KiB frames, and the hub asks " +
          "this agent nothing a hub from before 2026-12-04 did not",
        ...(url !== o.url ? { hub: url } : {}),
      });
      minimal = true;
      hello = await this.#greet(url, true);
    }
    const { welcome, transport } = hello;
    const session = new Session(transport, {
      side: "client",
      sendPayload: framePayloadFor(welcome.maxFrame),
      onStream: (stream) => {
        const channel = new Channel(stream);
        channel.expect(Request)
          .then((request) => o.serve(request, channel))
          .catch((err) =>
            o.log.warn("tunnel request failed", { stream: stream.id, reason: (err as Error).message })
          );
      },
    });
    this.session = session;
    this.#held = false;
    const held = setTimeout(() => (this.#held = true), 5_000);
    this.state = "online";
    this.lastError = undefined; // /healthz says why the hub is not reached only while it is not
    this.connections++;
    o.log.info("connected to the hub", {
      hubVersion: welcome.hubVersion,
      ...(minimal ? { hello: "minimal" } : {}),
      ...(url !== o.url ? { hub: url } : {}),
    });
    // The hub's timeout, so that both ends give a half-open link up alike: within heartbeat + timeout.
    const timeoutMs = welcome.heartbeatTimeoutSeconds !== undefined
      ? welcome.heartbeatTimeoutSeconds * 1000
      : o.heartbeatTimeoutMs ?? 10_000;
    const stopBeating = keepBeating(session, {
      heartbeatMs: welcome.heartbeatSeconds * 1000,
      timeoutMs,
      log: o.log,
    });
    if (this.#stopping) session.close(Reason.Normal, "stopping");
    const end = await session.ended;
    stopBeating();
    clearTimeout(held);
    this.session = undefined;
    o.log.info("tunnel session ended", {
      reason: reasonName(end.reason),
      message: end.message,
      local: end.local,
    });
    if (end.reason === Reason.Revoked || end.reason === Reason.BadCredential) {
      throw new HandshakeError(end.reason, end.message);
    }
  }
}
