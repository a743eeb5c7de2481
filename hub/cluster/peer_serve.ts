/**
 * The holding side of a link between hubs (peers.ts): a stream another hub opened, read for its request and
 * answered; a request for a site held here is joined to a new stream on the site's own tunnel (splice.ts).
 */
import type { z } from "zod";
import { Channel, ChannelError, type Stream } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import { splice } from "./splice.ts";
import {
  type DownlinkLimiter,
  type InboundLink,
  Open,
  PEER_EXTRA_WINDOW,
  REFUSALS_LOGGED,
} from "./peer_wire.ts";

/** What serving another hub's stream reads of ClusterPeers (live: read at each call). */
export interface Holding {
  readonly log: Logger;
  /** A new stream on the tunnel of a site this hub holds, or undefined; throws when its streams are all in use. */
  local(site: string): Promise<Stream | undefined>;
  /** The features the agent of a site this hub holds named in its hello; undefined when not held here. */
  featuresHere(site: string): readonly string[] | undefined;
  /** The downlink cap of a site held here (set once assembled). */
  downlink(): DownlinkLimiter | undefined;
  /** How long a stream may stay without its request before it is reset (ms). */
  openWaitMs(): number;
  /** The metrics' hook, which never fails a request. */
  count(direction: "out" | "in", outcome: string): void;
}

export async function serveStream(
  h: Holding,
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
  const silent = setTimeout(() => stream.reset("no request on the stream in time"), h.openWaitMs());
  try {
    open = await channel.expect(Open);
    clearTimeout(silent);
  } catch (err) {
    clearTimeout(silent);
    // Not an open this hub takes (another version, or not a hub): that stream ends, the link goes on.
    // Logged when the other hub sent something that is no open (not a stream it reset or ended empty, nor
    // the link ending under it: those are no ChannelError, or one of a stream that ended), the first
    // REFUSALS_LOGGED times a link.
    h.count("in", "failed");
    const sent = err instanceof ChannelError && !err.message.startsWith("stream ended");
    if (sent && ++from.refused <= REFUSALS_LOGGED) {
      h.log.warn("a hub's request refused", {
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
      const here = h.featuresHere(site);
      await channel.send(here ? { ok: true, features: [...here], ...relays } : { ok: false, ...relays });
      await channel.end();
      return;
    }
    let to: Stream | undefined, busy: string | undefined;
    try {
      to = await h.local(site);
    } catch (err) {
      busy = (err as Error).message;
    }
    if (!to) {
      h.count("in", busy ? "failed" : "not-here");
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
      throttle = relay && await h.downlink()?.(site, relay);
    } catch (err) {
      to.reset("the hub could not read the site's downlink cap");
      throw err;
    }
    const features = wantsFeatures ? h.featuresHere(site) : undefined;
    await channel.send(
      features ? { ok: true, features: [...features], ...relays } : { ok: true, ...relays },
    );
    h.count("in", "ok");
    counted = true;
    stream.grow(PEER_EXTRA_WINDOW);
    to.grow(PEER_EXTRA_WINDOW);
    await splice(stream, to, channel.detach(), "the site's stream failed", throttle);
  } catch {
    if (!counted) h.count("in", "failed");
    stream.reset("bad hub request");
  }
}
