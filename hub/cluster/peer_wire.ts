/**
 * What hubs say to each other on a link (peers.ts): the record that opens a stream and its answer, what a
 * hub asks of the hubs it connects to, the link's limits, and what a link's end and its heartbeat log.
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
 */
import { z } from "zod";
import { Reason, reasonName, type Session, type SessionEnd } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";

/**
 * Why a request for a site held elsewhere could not be carried (the metrics' outcome): no hub holds the
 * site, its hub has no cluster URL or cannot be reached, its hub refused (the site moved), or its hub did
 * not answer as it should.
 */
export type ElsewhereReason = "unheld" | "no-url" | "unreachable" | "refused" | "no-answer";

/** A site another hub holds cannot be reached now (no URL, hub down, site moving): the caller's 503. */
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
export const Open = z.object({
  site: z.string().min(1).max(64),
  probe: z.literal(true).optional(),
  relay: z.object({
    from: z.string().min(1).max(64),
    route: z.string().min(1).max(200).optional(),
  }).strict().optional(),
}).strict();
export const Answer = z.object({
  ok: z.boolean(),
  message: z.string().optional(),
  features: z.array(z.string().max(64)).max(64).optional(),
  /** The holder takes `relay` in an open and applies the site's downlink cap to it (hubs that ask `relays`). */
  relays: z.literal(true).optional(),
}).strict();

/** What a hub asks of the hubs it connects to (`x-conduit-peer`): the sites' features with each stream. */
export const PEER_ASKS = "site-features";
/** ... and whether they take `relay` in an open (said in each answer as `relays: true`). */
export const PEER_ASKS_RELAYS = "relays";
/** How long a site's features learned from its hub are taken as current. */
export const FEATURES_MS = 30_000;

/** An inbound link from another hub: its id (as it says), and how many of its opens were refused. */
export interface InboundLink {
  hub: string;
  refused: number;
}

/** A link's refused opens logged (a hub of another version, or not a hub, may send thousands). */
export const REFUSALS_LOGGED = 10;

/** Streams one hub may have open to another at once (each a request or an object in flight). */
export const MAX_STREAMS = 8192;

/**
 * Extra window the holding hub grants on both streams it joins for another hub (1 MiB each in all): a
 * request carried to another hub crosses one more flow-controlled hop, and the asking hub grows only its own
 * end (a retrieve's extra window). Growing the holder's receive window on the site's stream too keeps the
 * site's next bytes in flight while the holder passes the last ones on (WADO through a forwarding hub: 0.74x
 * of direct before, 0.84x after, medians of six paired rounds, bench/README.md); the hub-to-hub stream, for
 * objects sent to the site. The holder still keeps at most this much per stream and direction.
 */
export const PEER_EXTRA_WINDOW = 768 * 1024;

/**
 * Logs the end of a link between hubs: at info when it closed normally (a hub stopping, or closing its side),
 * as a warning otherwise (the other hub broke the protocol, sent garbage, went away or stopped answering).
 */
export function logLinkEnd(log: Logger, msg: string, hub: string, end: SessionEnd): void {
  const fields = { hub, reason: reasonName(end.reason), message: end.message, local: end.local };
  if (end.reason === Reason.Normal) log.info(msg, fields);
  else log.warn(msg, fields);
}

/** Pings the other hub; a link whose other end went away without closing (a machine lost) ends within 15 s. */
export function keepAlive(session: Session): void {
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
