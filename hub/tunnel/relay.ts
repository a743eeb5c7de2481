/**
 * Relaying an object from one agent to another: the source agent opens a stream with `relay`, the
 * hub opens one to the destination agent with `store`, and copies records both ways (the object
 * one way, the acknowledgement back). Both streams are flow-controlled, so the hub holds at most a
 * window and a record per direction, never a whole object.
 */
import { Channel, Request, type Stream } from "@conduit/shared/tunnel/mod.ts";
import type { Logger } from "@conduit/shared/log.ts";
import type { SiteSession } from "./sessions.ts";
import type { RateLimiter } from "../transfers/bandwidth.ts";

async function pipe(from: Channel, to: Channel, limiter?: RateLimiter): Promise<void> {
  for (let r = await from.next(); r; r = await from.next()) {
    if (r.kind === "json") await to.send(r.value);
    else {
      await limiter?.take(r.data.byteLength, to.stream.signal);
      await to.sendBytes(r.data);
    }
  }
  await to.end();
}

/** The bandwidth cap for objects a site relays under a queue route, if any. */
export type RelayLimiter = (fromSite: string, route: string) => Promise<RateLimiter | undefined>;

export async function relayStream(
  fromSite: string,
  stream: Stream,
  lookup: (site: string) => SiteSession | undefined,
  log: Logger,
  limiterFor?: RelayLimiter,
): Promise<void> {
  const from = new Channel(stream);
  let to: Channel | undefined;
  try {
    const request = await from.expect(Request);
    if (request.op !== "relay") {
      await from.send({
        type: "error",
        code: "bad-request",
        message: `agents may only ask the hub to relay`,
      });
      await from.end();
      return;
    }
    const destination = lookup(request.site);
    if (!destination || destination.session.isClosed) {
      await from.send({
        type: "error",
        code: "site-offline",
        message: `site ${request.site} is not connected`,
      });
      await from.end();
      return;
    }
    const limiter = request.route && limiterFor ? await limiterFor(fromSite, request.route) : undefined;
    to = new Channel(destination.session.open());
    await to.send({ op: "store", from: fromSite, ...(request.node ? { node: request.node } : {}) });
    await Promise.all([pipe(from, to, limiter), pipe(to, from)]);
  } catch (err) {
    log.debug("relay stream failed", { from: fromSite, reason: (err as Error).message });
    from.stream.reset("relay failed");
    to?.stream.reset("relay failed");
  }
}
