/**
 * Relaying an object from one agent to another: the source agent opens a stream with `relay`, the
 * hub opens one to the destination agent with `store`, and once both requests are through copies the
 * streams' bytes both ways as they come (the object one way, the acknowledgement back), without
 * taking records apart and framing them again: each frame's payload goes on as one frame. Both
 * streams are flow-controlled, so the hub holds at most a window per direction, never a whole object.
 */
import { Channel, Request, type Stream } from "@conduit/shared/tunnel";
import type { Logger } from "@conduit/shared/log";
import type { Throttle } from "../transfers/bandwidth.ts";
import type { RelayPolicy } from "./relay_policy.ts";

async function pipe(
  from: Stream,
  to: Stream,
  first: Uint8Array[] = [],
  limiter?: Throttle,
): Promise<void> {
  const pass = async (chunk: Uint8Array) => {
    await limiter?.take(chunk.byteLength, to.signal);
    await to.write(chunk);
  };
  for (const chunk of first) await pass(chunk);
  for (let chunk = await from.read(); chunk; chunk = await from.read()) await pass(chunk);
  await to.close();
}

/**
 * Answers a relay the hub does not carry with `error`, then reads and drops what the agent still sends.
 * The agent writes its whole object before it reads the answer: were the stream left unread, an object
 * larger than a stream's window would wait for credit forever, and the agent's worker with it (a
 * destination that is offline would stall the source's forwarding until the source restarted).
 */
async function refuse(from: Channel, code: string, message: string): Promise<void> {
  await from.send({ type: "error", code, message });
  await from.end();
  from.detach();
  while (await from.stream.read()) { /* dropped: the object is not relayed */ }
}

/**
 * What objects a site relays to another (under a queue route, when the agent names one) wait on: the
 * source's uplink cap, the destination's downlink cap and its transfer's cap, if any.
 */
export type RelayLimiter = (
  fromSite: string,
  route: string | undefined,
  /** Undefined: not the destination's downlink cap (the hub holding the destination applies it). */
  toSite: string | undefined,
) => Promise<Throttle | undefined>;

export async function relayStream(
  fromSite: string,
  stream: Stream,
  /**
   * A stream to a site's agent for a relay into it (here or through the hub that holds it); throws when it
   * is not connected. `downlinkApplied`: the hub holding the site applies its downlink cap (not this one).
   */
  open: (
    site: string,
    flow: { from: string; route?: string },
  ) => Promise<{ stream: Stream; downlinkApplied: boolean }>,
  log: Logger,
  limiterFor?: RelayLimiter,
  /** Which sites may relay to which (`tunnel.relays`); any to any without one. */
  policy?: RelayPolicy,
  /** Why a site that cannot be reached is no site at all (never added, revoked), or undefined. */
  unknown?: (site: string) => Promise<string | undefined>,
  /** Told of a relay refused because its destination is not connected (site_waiters.ts). */
  offline?: (site: string) => void,
): Promise<void> {
  const from = new Channel(stream);
  let to: Channel | undefined;
  try {
    const request = await from.expect(Request);
    if (request.op !== "relay") {
      await refuse(from, "bad-request", "agents may only ask the hub to relay");
      return;
    }
    const forbidden = await policy?.(fromSite, request.site, request.route);
    if (forbidden) {
      log.warn("relay refused by the relay policy", { from: fromSite, to: request.site });
      await refuse(from, "forbidden", forbidden);
      return;
    }
    let destination: Stream;
    let downlinkApplied = false;
    const route = request.route || undefined;
    try {
      ({ stream: destination, downlinkApplied } = await open(request.site, {
        from: fromSite,
        ...(route ? { route } : {}),
      }));
    } catch (err) {
      // No such site (a route's misspelt site, one revoked): said so, and the sender gives up on the row at
      // once (until 2026-12-07 "site X is not connected", tried again until its attempts ran out).
      const none = await unknown?.(request.site).catch(() => undefined);
      if (none) {
        log.warn("relay to a site the hub does not know", { from: fromSite, to: request.site });
        await refuse(from, "unknown-site", `${none}: check the route's site`);
        return;
      }
      offline?.(request.site);
      await refuse(from, "site-offline", (err as Error).message || `site ${request.site} is not connected`);
      return;
    }
    to = new Channel(destination);
    // The destination's downlink cap, when its hub applies it, is not applied here again (a cap of the
    // cluster: every relay into the site waits on that hub's one bucket).
    const limiter = limiterFor
      ? await limiterFor(fromSite, route, downlinkApplied ? undefined : request.site)
      : undefined;
    await to.send({ op: "store", from: fromSite, ...(request.node ? { node: request.node } : {}) });
    await Promise.all([pipe(stream, to.stream, from.detach(), limiter), pipe(to.stream, stream)]);
  } catch (err) {
    log.debug("relay stream failed", { from: fromSite, reason: (err as Error).message });
    from.stream.reset("relay failed");
    to?.stream.reset("relay failed");
  }
}
