/**
 * The shape of a site's request handlers, and how they answer. A handler gets the request of its own
 * operation (typed by `op`), writes its replies on the channel, and throws to answer with an error
 * (serve.ts turns the error into the `error` reply).
 */
import type { Channel, Reply, Request } from "@conduit/shared/tunnel/mod.ts";
import type { SiteServices } from "./services.ts";

/** A request's operation name. */
export type Op = Request["op"];

/** The request of one operation. */
export type RequestOf<O extends Op> = Extract<Request, { op: O }>;

/** Answers one request of operation `O` on `channel`; `signal` ends with the request's deadline or the hub's reset. */
export type Handler<O extends Op> = (
  services: SiteServices,
  request: RequestOf<O>,
  channel: Channel,
  signal: AbortSignal,
) => Promise<void>;

/** Handlers by operation. */
export type Handlers = { [O in Op]?: Handler<O> };

/** Sends one reply on the request's channel. */
export function send(channel: Channel, reply: Reply): Promise<void> {
  return channel.send(reply);
}

/** Sends an `ok` reply with its detail. */
export function ok(channel: Channel, detail: Record<string, unknown>): Promise<void> {
  return channel.send({ type: "ok", detail });
}
